"""The audit trail search page and its CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from northstar.audit.models import AuditEvent
from northstar.directory import services

COVERS = [AuditEvent]

HTMX = {"HX-Request": "true"}


@pytest.fixture
def browse(client):
    def login(user):
        client.force_login(user)
        return client
    return login


def text(response) -> str:
    return response.content.decode()


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_audit_page_is_refused_to_employees_and_the_refusal_is_audited(org, browse):
    response = browse(org.employee).get("/audit/")
    assert response.status_code == 403
    assert "You don’t have access to this page" in text(response)
    denial = AuditEvent.objects.filter(action=AuditEvent.Action.PERMISSION_DENIED).first()
    assert denial is not None
    assert denial.actor == "employee"
    assert denial.after == {"action": "view", "what": "the audit trail"}


@pytest.mark.parametrize("actor", ["manager", "hr", "executive", "service_owner"])
def test_audit_page_is_refused_to_other_roles(org, browse, actor):
    assert browse(getattr(org, actor)).get("/audit/").status_code == 403
    assert browse(getattr(org, actor)).get("/audit/export.csv").status_code == 403


def test_audit_page_lists_events_for_auditors_and_admins(org, browse):
    for user in (org.auditor, org.admin):
        response = browse(user).get("/audit/")
        assert response.status_code == 200
        page = text(response)
        assert "Audit trail" in page
        assert "Payments API" in page
        assert '<span class="chip chip-ok">Created</span>' in page
        assert f'href="/services/{org.service.uid}/"' in page


def test_audit_shows_changes_before_and_after(org, browse, admin):
    services.do_update_service(org.service, name="Payments", acting_user=admin)
    page = text(browse(org.auditor).get("/audit/", {"action": "update", "object_type": "directory.service"}))
    assert '<span class="change-field">name</span>' in page
    assert '<span class="change-before">Payments API</span>' in page
    assert '<span class="change-after">Payments</span>' in page
    assert '<span class="chip chip-info">Updated</span>' in page


def test_audit_filters(org, browse):
    client = browse(org.auditor)
    page = text(client.get("/audit/", {"q": "Customer onboarding"}))
    assert "Customer onboarding" in page
    assert "Payments API" not in page
    page = text(client.get("/audit/", {"actor": "nobody"}))
    assert "No events match these filters." in page
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    today = timezone.localdate().isoformat()
    assert "No events match" in text(client.get("/audit/", {"since": tomorrow}))
    assert "Payments API" in text(client.get("/audit/", {"since": today, "until": today}))
    assert "No events match “zzz”" in text(client.get("/audit/", {"q": "zzz"}))


def test_bad_filters_get_an_error_naming_the_field(org, browse):
    client = browse(org.auditor)
    page = text(client.get("/audit/", {"since": "yesterday"}))
    assert "Check the filters" in page
    assert "Since: Enter a valid date." in page
    page = text(client.get("/audit/", {"since": "2025-02-01", "until": "2025-01-01"}))
    assert "Until: Until must be on or after since." in page
    assert client.get("/audit/export.csv", {"since": "yesterday"}).status_code == 400


def test_audit_htmx_request_returns_the_results_partial(org, browse):
    response = browse(org.auditor).get("/audit/", {"action": "create"}, headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page
    assert 'id="audit-filters"' not in page
    assert "Payments API" in page
    assert "HX-Request" in response["Vary"]
    assert "HX-Request" in browse(org.auditor).get("/audit/")["Vary"]


def test_audit_is_paginated(org, browse, admin):
    for n in range(40):
        services.do_update_service(org.service, description=f"revision {n}", acting_user=admin)
    client = browse(org.auditor)
    assert AuditEvent.objects.count() > 50
    page = text(client.get("/audit/"))
    assert "Page 1 of" in page
    newest = AuditEvent.objects.order_by("-seq").first().seq
    assert f'<td class="num">{newest}</td>' in page
    assert f'<td class="num">{newest}</td>' not in text(client.get("/audit/", {"page": 2}))


def test_audit_export_follows_the_filters(org, browse):
    response = browse(org.auditor).get("/audit/export.csv", {"object_type": "directory.service"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert {row["object"] for row in rows} == {"Payments API", "CRM"}
    assert all(row["action"] == "create" for row in rows)
    assert '"name": "CRM"' in next(row["after"] for row in rows if row["object"] == "CRM")
    assert all(len(row["hash"]) == 64 for row in rows)


def test_links_in_changes_are_shown_by_name_not_database_id(org, client):
    from northstar.directory.services import do_update_person

    do_update_person(org.people["peer"], manager=org.people["skip"], acting_user=org.hr)
    client.force_login(org.auditor)
    page = client.get("/audit/", {"action": "update"}).content.decode()
    assert "Morgan Manager (E003)" in page and "Sam Skip (E002)" in page
