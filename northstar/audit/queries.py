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


def label_references(events) -> None:
    """Give each event `display_changes`: its changes with links shown by name, not database id.

    The stored before/after values keep the ids (they are the hashed evidence);
    this is only how the page shows them.
    """
    from collections import defaultdict

    from django.apps import apps
    from django.db import models

    wanted: dict = defaultdict(set)
    plans = []
    for event in events:
        try:
            model = apps.get_model(event.object_type) if event.object_type else None
        except (LookupError, ValueError):
            model = None
        fields = {}
        for name, before, after in event.changes:
            try:
                field = model._meta.get_field(name) if model else None
            except Exception:  # noqa: BLE001  (a field that no longer exists keeps its raw value)
                field = None
            if isinstance(field, models.ForeignKey):
                fields[name] = field.related_model
                for value in (before, after):
                    if isinstance(value, int):
                        wanted[field.related_model].add(value)
        plans.append((event, fields))
    labels = {
        (related, obj.pk): _label(obj)
        for related, pks in wanted.items() for obj in related._default_manager.filter(pk__in=pks)
    }
    for event, fields in plans:
        if event.action == "permission_denied":
            event.display_changes = []
            continue
        event.display_changes = [
            (name, *(labels.get((fields[name], value), value) if name in fields and value is not None else value
                     for value in (before, after)))
            for name, before, after in event.changes
        ]


def _label(obj) -> str:
    key = getattr(obj, "employee_id", None) or getattr(obj, "key", None)
    return f"{obj} ({key})" if key else str(obj)
