"""/health: the database answers, and the worker's heartbeat is absent, fresh or stale."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from northstar.core.models import WorkerHeartbeat
from northstar.core.worker import beat, current_worker_id


def health(client) -> dict:
    response = client.get("/health")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    return body


def test_health_reports_no_worker_before_the_first_heartbeat(client, db):
    assert health(client)["worker"] == {"status": "absent", "age_seconds": None}


def test_health_reports_a_worker_that_just_beat(client, db):
    beat(current_worker_id(), started=timezone.now())
    worker = health(client)["worker"]
    assert worker["status"] == "ok"
    assert worker["worker_id"] == current_worker_id()
    assert worker["age_seconds"] < settings.WORKER_HEARTBEAT_SECONDS


def test_health_reports_a_worker_that_stopped_beating_as_stale(client, db):
    then = timezone.now() - timedelta(seconds=5 * settings.WORKER_HEARTBEAT_SECONDS)
    beat("quiet:1", started=then, now=then)
    worker = health(client)["worker"]
    assert worker["status"] == "stale"
    assert worker["age_seconds"] >= 5 * settings.WORKER_HEARTBEAT_SECONDS


def test_health_needs_no_login_and_reports_the_freshest_worker(client, db):
    then = timezone.now() - timedelta(days=1)
    beat("quiet:1", started=then, now=then)
    beat("busy:2", started=then)
    assert WorkerHeartbeat.objects.count() == 2
    assert health(client)["worker"]["worker_id"] == "busy:2"
