"""Login (rate-limited), home, API tokens page and the /health probe."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from northstar.core.context import current_request
from northstar.core.errors import validation_fields
from northstar.core.models import ApiToken, WorkerHeartbeat
from northstar.core.ratelimit import login_blocked
from northstar.core.services import do_create_api_token, do_revoke_api_token


class RateLimitedAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "rate_limited": "Too many failed attempts. Wait a few minutes and try again.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if login_blocked(username, current_request().client_ip):
            raise ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        return super().clean()


class NorthstarLoginView(LoginView):
    form_class = RateLimitedAuthenticationForm
    template_name = "core/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    return redirect("people")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    days = forms.IntegerField(min_value=1, max_value=366, initial=90)


@never_cache  # the page shows a new token's secret once; no copy may stay in a cache
@login_required
def tokens(request):
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _row, new_token = do_create_api_token(acting_user=request.user, **form.cleaned_data)
        except ValidationError as error:
            for name, msgs in validation_fields(error).items():
                form.add_error(name if name in form.fields else None, msgs)
        else:
            form = TokenForm()
    rows = ApiToken.objects.restrict(request.user, "view").filter(user=request.user)
    return render(request, "core/tokens.html", {"form": form, "tokens": rows, "new_token": new_token})


@login_required
@require_POST
def revoke_token(request, uid):
    token = get_object_or_404(ApiToken.objects.restrict(request.user, "view"), uid=uid)
    do_revoke_api_token(token, acting_user=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")


@never_cache
def health(request):
    """For load balancers: 200 when the database answers; the worker's heartbeat age alongside."""
    from django.conf import settings

    body = {"status": "ok", "database": "ok", "worker": None}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat = WorkerHeartbeat.objects.order_by("-last_seen").first()
    except Exception as error:  # noqa: BLE001  (any database failure means unhealthy)
        body.update(status="unavailable", database=f"error: {type(error).__name__}")
        return JsonResponse(body, status=503)
    if beat is None:
        body["worker"] = {"status": "absent", "age_seconds": None}
    else:
        age = (timezone.now() - beat.last_seen).total_seconds()
        stale = age > 4 * settings.WORKER_HEARTBEAT_SECONDS
        body["worker"] = {"status": "stale" if stale else "ok", "age_seconds": round(age, 1),
                          "worker_id": beat.worker_id}
    return JsonResponse(body)
