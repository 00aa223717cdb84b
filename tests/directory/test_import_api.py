"""POST /imports/people: multipart upload, preview, apply, errors by line."""

import pytest

from northstar.audit.models import AuditEvent
from northstar.directory.models import Person
from tests.directory.test_import import new_row, org_rows, to_csv


def upload(client, rows, **params):
    return client.upload("/imports/people", "people.csv", to_csv(rows), **params)


def test_dry_run_is_the_default_and_previews(org, api):
    rows = [*[r for r in org_rows() if r[0] != "E008"], new_row("N1", "Nia New")]
    rows[3][3] = "Senior Engineer"
    client = api(org.hr)  # logging in is audited: count after it
    before = Person.objects.count(), AuditEvent.objects.count()
    r = upload(client, rows)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["dry_run"] is True and body["applied"] is False
    assert body["counts"] == {"create": 1, "update": 1, "unchanged": 6, "deactivate": 1}
    assert body["creates"] == [{"employee_id": "N1", "name": "Nia New", "line": 9, "changes": []}]
    assert body["updates"][0]["changes"] == [
        {"field": "job_title", "before": "Engineer", "after": "Senior Engineer"}]
    assert body["deactivations"][0]["employee_id"] == "E008"
    assert body["errors"] == [] and body["truncated"] is False
    assert (Person.objects.count(), AuditEvent.objects.count()) == before


def test_apply_writes_and_a_second_upload_changes_nothing(org, api):
    rows = [*org_rows(), new_row("N1", "Nia New")]
    first = upload(api(org.admin), rows, dry_run="false")
    assert first.status_code == 200, first.content
    assert first.json()["applied"] is True
    assert Person.objects.filter(employee_id="N1").exists()
    second = upload(api(org.admin), rows, dry_run="false")
    assert second.json()["applied"] is False
    assert second.json()["counts"] == {"create": 0, "update": 0, "unchanged": 9, "deactivate": 0}


def test_deactivate_missing_false_keeps_people(org, api):
    rows = [r for r in org_rows() if r[0] != "E008"]
    r = upload(api(org.hr), rows, dry_run="false", deactivate_missing="false")
    assert r.json()["counts"]["deactivate"] == 0
    assert Person.objects.get(employee_id="E008").is_active


def test_errors_answer_422_with_the_lines_in_fields(org, api):
    rows = [*org_rows(), new_row("N1", "Nia", manager="E999"), new_row("N2", "Noel", col2="x@", col8="01/02/2020")]
    client = api(org.hr)
    before = Person.objects.count(), AuditEvent.objects.count()
    r = upload(client, rows, dry_run="false")
    assert r.status_code == 422, r.content
    error = r.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "people.csv has 3 errors; nothing was imported."
    assert error["fields"] == {
        "line 10": ["unknown manager 'E999'"],
        "line 11": ["bad email 'x@'", "bad hire date '01/02/2020': use YYYY-MM-DD"],
    }
    assert (Person.objects.count(), AuditEvent.objects.count()) == before


def test_an_unreadable_file_is_a_422_on_line_1(org, api):
    r = api(org.hr).upload("/imports/people", "people.xlsx", b"not a workbook")
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == {"line 1": ["The file is named .xlsx but is not an Excel workbook."]}


def test_missing_file_field_is_a_422(org, api):
    r = api(org.hr).post("/imports/people", {})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == {"file": ["Field required"]}


def test_lists_are_capped(org, api, monkeypatch):
    monkeypatch.setattr("northstar.directory.api_import.LIST_LIMIT", 2)
    rows = [*org_rows(), *[new_row(f"N{i}", f"New {i}") for i in range(5)]]
    body = upload(api(org.hr), rows).json()
    assert body["counts"]["create"] == 5 and len(body["creates"]) == 2
    assert body["truncated"] is True and body["list_limit"] == 2


@pytest.mark.parametrize("actor", ["employee", "manager", "auditor", "executive"])
def test_only_admin_and_hr_may_import(org, api, actor):
    r = upload(api(getattr(org, actor)), [*org_rows(), new_row("N1", "Nia New")], dry_run="false")
    assert r.status_code == 403
    assert not Person.objects.filter(employee_id="N1").exists()
    assert AuditEvent.objects.order_by("-seq").first().action == AuditEvent.Action.PERMISSION_DENIED


def test_anonymous_is_401(org, api):
    assert upload(api(), org_rows()).status_code == 401


def test_a_read_only_token_cannot_import(org, api, token_for):
    r = upload(api(token=token_for(org.hr)), org_rows())
    assert r.status_code == 403


def test_a_write_token_can_import(org, api, token_for):
    r = upload(api(token=token_for(org.hr, scope="write")), [*org_rows(), new_row("N1", "Nia")], dry_run="false")
    assert r.status_code == 200, r.content
    assert Person.objects.filter(employee_id="N1").exists()
