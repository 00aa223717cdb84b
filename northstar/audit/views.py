"""The audit trail search page and its CSV export: admins and auditors only."""

import json
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from northstar.audit.models import AuditEvent
from northstar.audit.queries import label_references, search_events
from northstar.core.htmx import csv_response, paginate, render_page
from northstar.core.permissions import deny
from northstar.core.roles import AUDIT_READER_ROLES, actor_for

Action = AuditEvent.Action

# Chip tone for each action; the chip always carries the action's label.
ACTION_TONES = {
    Action.CREATE: "ok",
    Action.IMPORT: "ok",
    Action.TOKEN_CREATED: "ok",
    Action.UPDATE: "info",
    Action.DEACTIVATE: "warn",
    Action.DELETE: "warn",
    Action.TOKEN_REVOKED: "warn",
    Action.LOGIN_FAILED: "bad",
    Action.PERMISSION_DENIED: "bad",
}

# Pages that show an audited object, by the event's object type; the object id is its uid.
OBJECT_PAGES = {
    "directory.person": "person",
    "directory.orgunit": "org_unit",
    "directory.service": "service",
    "directory.process": "process",
}


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, help_text="Username")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *Action.choices])
    object_type = forms.CharField(required=False, max_length=64, label="Object type",
                                  help_text="For example directory.person")
    q = forms.CharField(required=False, max_length=200, label="Text",
                        help_text="Object name or id, or actor")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="Inclusive")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "Until must be on or after since.")
        return cleaned

    def search_arguments(self) -> dict:
        """Filters for `search_events`: dates become the start of the day in the local time zone."""
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        return {
            "actor": data.get("actor", "").strip(),
            "action": data.get("action"),
            "object_type": data.get("object_type", "").strip(),
            "q": data.get("q", "").strip(),
            "since": since and _start_of(since),
            "until": until and _start_of(until + timedelta(days=1)),
        }


def _start_of(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def _require_reader(request) -> None:
    if not actor_for(request.user).has_role(*AUDIT_READER_ROLES):
        raise deny(request.user, "view", "the audit trail")


def _object_url(event) -> str:
    name = OBJECT_PAGES.get(event.object_type)
    if not name or not event.object_id:
        return ""
    try:
        return reverse(name, args=[event.object_id])
    except NoReverseMatch:  # an id that is not a uid
        return ""


def _context(form, page=None) -> dict:
    return {"form": form, "page": page, "filtered": any(form.data.get(name) for name in form.fields)}


@login_required
def audit_search(request):
    _require_reader(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render_page(request, "audit/search.html", _context(form), partial="audit/_results.html")
    page = paginate(request, search_events(request.user, **form.search_arguments()))
    label_references(page)
    for event in page:
        event.tone = ACTION_TONES.get(event.action, "muted")
        event.object_url = _object_url(event)
    return render_page(request, "audit/search.html", _context(form, page), partial="audit/_results.html")


@login_required
def audit_export(request):
    _require_reader(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render_page(request, "audit/search.html", _context(form), status=400)
    events = search_events(request.user, **form.search_arguments())
    header = ["seq", "time", "actor", "action", "object_type", "object_id", "object", "before", "after",
              "request_id", "client_ip", "hash"]

    def as_json(value):
        return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)

    def lines():
        for event in events.iterator(chunk_size=1000):
            yield [event.seq, event.time.isoformat(), event.actor, event.action, event.object_type,
                   event.object_id, event.object_repr, as_json(event.before), as_json(event.after),
                   event.request_id, event.client_ip, event.hash]

    return csv_response("audit.csv", header, lines())
