from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from northstar.audit.queries import search_events


@login_required
def audit_search(request):
    events = search_events(request.user, q=request.GET.get("q"))[:100]
    return render(request, "audit/search.html", {"events": events})
