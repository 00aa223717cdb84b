"""Reads of the audit trail, always restricted to admins and auditors."""

from django.db.models import Q

from northstar.audit.models import AuditEvent


def search_events(user, *, actor=None, action=None, object_type=None, object_id=None, q=None, since=None,
                  until=None):
    events = AuditEvent.objects.restrict(user, "view")
    if actor:
        events = events.filter(actor__iexact=actor)
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if q:
        events = events.filter(Q(object_repr__icontains=q) | Q(actor__icontains=q) | Q(object_id=q))
    if since:
        events = events.filter(time__gte=since)
    if until:
        events = events.filter(time__lt=until)
    return events.order_by("-seq")
