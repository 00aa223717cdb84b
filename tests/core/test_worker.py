"""`northstar worker`: runs queued tasks, beats, schedules periodic jobs once, stops on SIGTERM."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from northstar.core.models import ScheduledJob, WorkerHeartbeat
from northstar.core.schedule import Schedule, schedule
from northstar.core.tasks import prune_worker_heartbeats
from northstar.core.worker import Housekeeper, current_worker_id


def old_heartbeat(worker_id="gone:1", age=timedelta(days=2)):
    then = timezone.now() - age
    return WorkerHeartbeat.objects.create(worker_id=worker_id, hostname="gone", started=then, last_seen=then)


@pytest.mark.django_db(transaction=True)
def test_worker_once_runs_an_enqueued_task_and_writes_a_heartbeat():
    old_heartbeat()
    result = prune_worker_heartbeats.enqueue()

    call_command("worker", "--once")

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert not WorkerHeartbeat.objects.filter(worker_id="gone:1").exists()
    beat = WorkerHeartbeat.objects.get(worker_id=current_worker_id())
    assert timezone.now() - beat.last_seen < timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)
def test_worker_once_enqueues_and_runs_the_registered_prune_job():
    call_command("worker", "--once")

    assert "prune_worker_heartbeats" in schedule.jobs
    job = ScheduledJob.objects.get(name="prune_worker_heartbeats")
    assert job.next_run > timezone.now() + timedelta(minutes=50)
    run = DBTaskResult.objects.get(task_path="northstar.core.tasks.prune_worker_heartbeats")
    assert run.status == TaskResultStatus.SUCCESSFUL


def test_a_due_job_is_enqueued_once_when_two_schedulers_tick(db):
    jobs = Schedule()
    jobs.register("probe", every_seconds=600, task=prune_worker_heartbeats)
    now = timezone.now()

    # Two workers both see the job due at the same instant: only one claim wins.
    assert jobs.run_due(now) == ["probe"]
    assert jobs.run_due(now) == []
    assert DBTaskResult.objects.count() == 1

    assert jobs.run_due(now + timedelta(seconds=599)) == []
    assert jobs.run_due(now + timedelta(seconds=600)) == ["probe"]
    assert DBTaskResult.objects.count() == 2


def test_a_job_name_cannot_be_registered_twice_for_different_work():
    jobs = Schedule()
    jobs.register("probe", every_seconds=60, task=prune_worker_heartbeats)
    jobs.register("probe", every_seconds=60, task=prune_worker_heartbeats)  # re-import: fine
    with pytest.raises(ValueError, match="already registered"):
        jobs.register("probe", every_seconds=30, task=prune_worker_heartbeats)
    with pytest.raises(ValueError, match="positive"):
        jobs.register("never", every_seconds=0, task=prune_worker_heartbeats)


@pytest.mark.django_db(transaction=True)
def test_the_housekeeper_thread_beats_until_stopped():
    keeper = Housekeeper("thread:1", every=0.05, schedule=Schedule())
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while not WorkerHeartbeat.objects.filter(worker_id="thread:1").exists():
            assert time.monotonic() < deadline, "no heartbeat within 10 s"
            time.sleep(0.05)
    finally:
        keeper.stop()
    assert not keeper._thread.is_alive()


def test_the_worker_process_stops_cleanly_on_sigterm(tmp_path):
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "NORTHSTAR_MODE", "DEBUG", "SECRET_KEY"}}
    env.update(NORTHSTAR_DATA_DIR=str(tmp_path), WORKER_HEARTBEAT_SECONDS="1")
    northstar = [sys.executable, "-m", "northstar.cli"]
    subprocess.run([*northstar, "migrate", "--no-input", "-v0"], env=env, check=True, timeout=120)
    worker = subprocess.Popen([*northstar, "worker", "--interval", "0.2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        database = tmp_path / "northstar.sqlite3"
        deadline = time.monotonic() + 30
        while not _heartbeats(database):
            assert worker.poll() is None, worker.stdout.read()
            assert time.monotonic() < deadline, "the worker wrote no heartbeat within 30 s"
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "shutting down gracefully" in output


def _heartbeats(database) -> int:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT COUNT(*) FROM core_workerheartbeat").fetchone()[0]


def test_a_job_that_cannot_be_enqueued_does_not_stop_the_others(db):
    class Broken:
        def enqueue(self):
            raise RuntimeError("backend down")

    jobs = Schedule()
    jobs.register("broken", every_seconds=60, task=Broken())
    jobs.register("probe", every_seconds=60, task=prune_worker_heartbeats)
    assert jobs.run_due() == ["probe"]
    # The failed claim was rolled back with it: the broken job is still due.
    assert ScheduledJob.objects.get(name="broken").last_run is None
