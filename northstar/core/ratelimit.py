"""Login rate limiting, counted from failed-login events in the audit trail.

Counting from the database (not a per-process cache) makes the limit hold
across any number of app servers, and leaves evidence of the attack.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from northstar.audit.models import AuditEvent


def login_blocked(username: str, client_ip: str) -> bool:
    since = timezone.now() - timedelta(seconds=settings.LOGIN_RATE_WINDOW_SECONDS)
    failures = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED, time__gte=since)
    limit = settings.LOGIN_RATE_LIMIT
    if username and failures.filter(object_id=username[:64]).count() >= limit:
        return True
    return bool(client_ip) and failures.filter(client_ip=client_ip).count() >= limit * 4
