"""Logins, logouts and failed logins become audit events."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from northstar.audit.services import Action, record_event


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    record_event(Action.LOGIN, acting_user=user, obj=user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    if user is not None:
        record_event(Action.LOGOUT, acting_user=user, obj=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    record_event(
        Action.LOGIN_FAILED,
        acting_user=None,
        object_type="auth.user",
        object_id=username,
        object_repr=username,
        actor_label=username,
    )
