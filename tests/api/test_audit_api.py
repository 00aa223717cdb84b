"""Searching and verifying the audit trail through the API."""

from northstar.audit.models import AuditEvent
from northstar.directory import services

COVERS = [AuditEvent]


def test_auditor_searches_by_actor_object_and_time(org, api):
    person = org.people["peer"]
    services.do_update_person(person, job_title="Principal", acting_user=org.hr)
    client = api(org.auditor)
    by_actor = client.get("/audit/events", actor="hr").json()["items"]
    assert [e["action"] for e in by_actor] == ["update"]
    by_object = client.get("/audit/events", object_id=str(person.uid)).json()["items"]
    assert [e["action"] for e in by_object] == ["update", "create"]
    assert by_object[0]["before"]["job_title"] == "Engineer" and by_object[0]["after"]["job_title"] == "Principal"
    since = by_object[0]["time"]
    recent = client.get("/audit/events", since=since).json()["items"]
    assert all(e["time"] >= since for e in recent) and recent
    assert client.get("/audit/events", until="2000-01-01T00:00:00Z").json()["items"] == []


def test_employee_and_hr_cannot_read_the_trail_and_the_denial_is_recorded(org, api):
    for actor in ("employee", "hr"):
        response = api(getattr(org, actor)).get("/audit/events")
        assert response.status_code == 403
    assert AuditEvent.objects.filter(action="permission_denied", actor="hr").exists()


def test_verify_through_the_api(org, api):
    body = api(org.auditor).get("/audit/verify").json()
    assert body["ok"] is True and body["checked"] > 10 and body["first_bad_seq"] is None


def test_no_api_route_changes_or_deletes_events(org, api):
    seq = AuditEvent.objects.order_by("seq").first().seq
    client = api(org.admin).client
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/audit/events/{seq}", "{}", content_type="application/json")
        assert response.status_code in (404, 405)
    assert AuditEvent.objects.filter(seq=seq).exists()
