from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from northstar.directory import queries


@login_required
def people(request):
    rows = queries.people(request.user, q=request.GET.get("q"))[:50]
    return render(request, "directory/people.html", {"people": rows})
