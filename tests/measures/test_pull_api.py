"""The pull sources API (administrators only, the URL never shown back) and the worker's scheduled pulls."""

import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from northstar.audit.models import AuditEvent, AuditHead
from northstar.core.schedule import schedule
from northstar.measures.connectors.runner import claim, run_due_pulls
from northstar.measures.models import Observation, PullSource
from northstar.measures.services_pull import do_create_pull_source, do_update_pull_source, keep_stored_secrets
from northstar.measures.tasks import run_due_pull_sources

COVERS = [PullSource]

SECRET = "sql-pull-s3cret"


@pytest.fixture
def readings_db(tmp_path):
    path = tmp_path / "readings.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE readings (ts TEXT, value REAL)")
        db.executemany("INSERT INTO readings VALUES (?, ?)", [("2026-03-01 10:00:00", 2), ("2026-03-02 10:00:00", 3)])
    return path


@pytest.fixture
def payload(readings_db):
    return {"measure": "deploys", "kind": "sql", "url": f"sqlite:///{readings_db}",
            "query": "SELECT ts, value FROM readings", "every_seconds": 60}


@pytest.fixture
def source(org, measures, payload):
    values = {**payload, "measure": measures["deploys"]}
    return do_create_pull_source(acting_user=org.admin, **values)


def test_anonymous_gets_401(org, measures, api, source, payload):
    client = api()
    uid = source.uid
    for response in (client.get("/pull-sources"), client.get(f"/pull-sources/{uid}"),
                     client.post("/pull-sources", payload), client.patch(f"/pull-sources/{uid}", {"query": "x"}),
                     client.post(f"/pull-sources/{uid}/run"), client.post(f"/pull-sources/{uid}/test"),
                     client.request("delete", f"/pull-sources/{uid}")):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("actor", ["employee", "manager", "hr", "auditor", "executive"])
def test_only_administrators_may_see_or_configure_pulls(org, measures, api, source, payload, actor):
    client = api(getattr(org, actor))
    uid = source.uid
    denied_before = AuditEvent.objects.filter(action="permission_denied").count()
    for response in (client.get("/pull-sources"), client.get(f"/pull-sources/{uid}"),
                     client.post("/pull-sources", payload), client.patch(f"/pull-sources/{uid}", {"query": "x"}),
                     client.post(f"/pull-sources/{uid}/run"), client.post(f"/pull-sources/{uid}/test"),
                     client.request("delete", f"/pull-sources/{uid}")):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert SECRET not in response.content.decode()
    assert PullSource.objects.count() == 1 and Observation.objects.count() == 0
    assert refreshed(source).last_run is None
    assert AuditEvent.objects.filter(action="permission_denied").count() == denied_before + 7


def test_services_refuse_non_administrators_too(org, measures, source, payload):
    with pytest.raises(PermissionDenied):
        do_create_pull_source(acting_user=org.employee, **{**payload, "measure": measures["deploys"]})
    with pytest.raises(PermissionDenied):
        do_update_pull_source(source, acting_user=org.hr, is_active=False)


def refreshed(source):
    return PullSource.objects.get(pk=source.pk)


def test_an_admin_creates_lists_updates_and_deletes_with_audit_and_never_sees_the_url(org, measures, api,
                                                                                        readings_db):
    client = api(org.admin)
    url = f"postgres://reader:{SECRET}@db.internal:5432/sales?sslmode=require"

    created = client.post("/pull-sources", {"measure": "latency", "kind": "sql", "url": url,
                                            "query": "SELECT ts, value FROM t", "every_seconds": 120})

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url_redacted"] == "postgres://reader:***@db.internal:5432/sales?sslmode=require"
    assert "url" not in body and SECRET not in created.content.decode()
    assert body["measure"]["key"] == "latency" and body["every_seconds"] == 120 and body["mode"] == "instant"
    assert body["next_run"] is not None  # due at once
    uid = body["uid"]
    listing = client.get("/pull-sources", measure="latency")
    assert [item["uid"] for item in listing.json()["items"]] == [uid]
    assert client.get("/pull-sources", measure="deploys").json()["items"] == []
    assert client.get(f"/pull-sources/{uid}").json()["url_redacted"] == body["url_redacted"]

    updated = client.patch(f"/pull-sources/{uid}", {"every_seconds": 600, "is_active": False,
                                                    "url": "postgres://reader:***@db.internal:5432/sales2"})

    assert updated.status_code == 200, updated.content
    assert (updated.json()["every_seconds"], updated.json()["is_active"]) == (600, False)
    assert refreshed(PullSource.objects.get(uid=uid)).url == f"postgres://reader:{SECRET}@db.internal:5432/sales2"
    deleted = client.request("delete", f"/pull-sources/{uid}")
    assert deleted.status_code == 204
    assert not PullSource.objects.filter(uid=uid).exists()

    events = list(AuditEvent.objects.filter(object_id=uid).order_by("seq"))
    assert [e.action for e in events] == ["create", "update", "update", "delete"]
    assert events[0].after["query"] == "SELECT ts, value FROM t" and "url" not in events[0].after
    assert events[1].after == {"url_redacted": "postgres://reader:***@db.internal:5432/sales2",
                               "credentials_changed": False}
    assert events[2].after["every_seconds"] == 600
    assert SECRET not in str([(e.before, e.after, e.object_repr) for e in AuditEvent.objects.all()])


def test_masked_password_is_kept_only_for_the_same_server_and_user(org, measures, source):
    stored = f"postgres://reader:{SECRET}@db:5432/sales?sslpassword=k3y"
    assert keep_stored_secrets("postgres://reader:***@db:5432/other?sslpassword=***", stored) == \
        f"postgres://reader:{SECRET}@db:5432/other?sslpassword=k3y"
    for elsewhere in ("postgres://reader:***@evil:5432/sales", "postgres://other:***@db:5432/sales",
                      "postgres://reader:***@db:6543/sales"):
        with pytest.raises(ValidationError, match="only when scheme, host, port and user are unchanged"):
            keep_stored_secrets(elsewhere, stored)


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"kind": "prometheus"}, "url", "starts with http:// or https://"),
    ({"url": "mysql://u:p@h/db"}, "url", "starts with sqlite:/// (a file) or postgres://"),
    ({"url": "sqlite:///relative.db"}, "url", "absolute file path"),
    ({"url": "postgres://u:p@h:5432/"}, "url", "needs a database name"),
    ({"query": "   "}, "query", "A query is required."),
    ({"every_seconds": 5}, "every_seconds", "At least 10 seconds."),
    ({"step_seconds": 0}, "step_seconds", "Between 1 and"),
    ({"measure": "nope"}, "measure", "No measure with key 'nope'."),
])
def test_bad_configuration_is_refused_with_the_field_named(org, measures, api, payload, change, field, message):
    response = api(org.admin).post("/pull-sources", {**payload, **change})

    assert response.status_code == 422, response.content
    assert any(message in text for text in response.json()["error"]["fields"][field])
    assert PullSource.objects.count() == 0


def test_a_manual_measure_cannot_have_a_pull(org, year, measures, api, payload):
    from northstar.measures.services import do_create_measure

    do_create_measure(key="manual", name="Manual", subject=org.units.platform.subject, is_manual=True,
                      acting_user=org.admin)
    response = api(org.admin).post("/pull-sources", {**payload, "measure": "manual"})
    assert response.status_code == 422
    assert "check-ins" in response.json()["error"]["fields"]["measure"][0]


def test_test_is_a_dry_run_and_run_pulls_now(org, year, measures, api, source):
    client = api(org.admin)

    tested = client.post(f"/pull-sources/{source.uid}/test")

    assert tested.status_code == 200
    assert tested.json() | {"source": None} == tested.json() | {
        "ok": True, "dry_run": True, "points": 2, "written": 2, "duplicates": 0, "rejected": 0, "error": "",
        "source": None}
    assert [p["value"] for p in tested.json()["preview"]] == ["2.0", "3.0"]
    assert Observation.objects.count() == 0 and refreshed(source).last_run is None

    ran = client.post(f"/pull-sources/{source.uid}/run")

    assert (ran.json()["ok"], ran.json()["written"], ran.json()["dry_run"]) == (True, 2, False)
    assert ran.json()["source"]["last_success"] is not None
    assert Observation.objects.count() == 2
    assert Observation.objects.first().batch.user == org.admin  # a run from the API is the admin's
    again = client.post(f"/pull-sources/{source.uid}/run")
    assert (again.json()["written"], again.json()["duplicates"]) == (0, 2)


def test_a_failed_run_answers_200_with_the_reason(org, year, measures, api, source):
    PullSource.objects.filter(pk=source.pk).update(query="SELECT nope FROM readings")

    ran = api(org.admin).post(f"/pull-sources/{source.uid}/run")

    assert ran.status_code == 200
    assert ran.json()["ok"] is False
    assert ran.json()["error"] == "SQLite refused the query: no such column: nope."
    assert ran.json()["source"]["last_error"] == ran.json()["error"]


# -- scheduling ------------------------------------------------------------------------------


def test_a_due_source_is_claimed_once(org, measures, source):
    now = timezone.now()
    assert claim(source, now) is True
    assert claim(source, now) is False  # a second worker at the same instant gets nothing
    assert refreshed(source).next_run == now + timedelta(seconds=60)
    assert claim(source, now + timedelta(seconds=59)) is False
    assert claim(source, now + timedelta(seconds=60)) is True


def test_run_due_pulls_runs_each_due_source_once(org, year, measures, source, readings_db):
    inactive = do_create_pull_source(acting_user=org.admin, measure=measures["latency"], kind="sql",
                                     url=f"sqlite:///{readings_db}", query="SELECT ts, value FROM readings",
                                     is_active=False)
    now = timezone.now()

    first = run_due_pulls(now)
    second = run_due_pulls(now)  # two workers ticking at the same instant

    assert [(s.pk, r.written) for s, r in first] == [(source.pk, 2)]
    assert second == []
    assert refreshed(inactive).last_run is None
    later = run_due_pulls(now + timedelta(seconds=60))
    assert [(s.pk, r.written, r.duplicates) for s, r in later] == [(source.pk, 0, 2)]
    assert Observation.objects.count() == 2


def test_a_failing_source_does_not_stop_the_others(org, year, measures, source, tmp_path):
    broken = do_create_pull_source(acting_user=org.admin, measure=measures["latency"], kind="sql",
                                   url=f"sqlite:///{tmp_path / 'gone.db'}", query="SELECT 1, 2")

    ran = run_due_pulls(timezone.now())

    assert {s.pk: r.ok for s, r in ran} == {source.pk: True, broken.pk: False}
    assert refreshed(broken).last_error.startswith("No SQLite database file at")


@pytest.fixture
def audit_genesis(transactional_db):
    """A transactional test after another one starts from flushed tables: put back the audit chain's head."""
    AuditHead.objects.get_or_create(pk=1)


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_due_pulls_on_its_schedule(audit_genesis, org, year, measures, source):
    job = schedule.jobs["run_due_pulls"]
    assert job.every == timedelta(seconds=30) and job.task is run_due_pull_sources

    call_command("worker", "--once")

    assert refreshed(source).last_success is not None
    assert Observation.objects.count() == 2
    call_command("worker", "--once")  # the job is not due again yet, nor is the source
    assert Observation.objects.count() == 2
