"""Periodic jobs: apps register `register(name, every_seconds, task)`; the worker enqueues them when due.

Each job has one `ScheduledJob` row holding the time it is next due. Whoever
moves that time forward with a conditional UPDATE (`WHERE next_run <= now`)
owns this run and enqueues the task; any other worker's UPDATE then matches
no row. That holds on SQLite (one writer at a time) and on PostgreSQL (the
second UPDATE re-checks the condition once the first commits), so any number
of workers can tick the same schedule and each due job is enqueued once.

Apps register jobs at import time of their `tasks` module; the worker imports
every installed app's `tasks` module before its first tick (`autodiscover`).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    task: object  # a django-tasks Task: anything with .enqueue()


class Schedule:
    """A set of periodic jobs. The module-level `schedule` is the one the worker runs."""

    def __init__(self):
        self.jobs: dict[str, Job] = {}

    def register(self, name: str, every_seconds: float, task) -> Job:
        if every_seconds <= 0:
            raise ValueError(f"job {name!r}: every_seconds must be positive, not {every_seconds!r}")
        job = Job(name=name, every=timedelta(seconds=every_seconds), task=task)
        existing = self.jobs.get(name)
        if existing is not None and existing != job:
            raise ValueError(f"a different periodic job is already registered as {name!r}")
        self.jobs[name] = job
        return job

    def run_due(self, now: datetime | None = None) -> list[str]:
        """Enqueue every job that is due and that this caller won; return their names."""
        from northstar.core.models import ScheduledJob

        now = now or timezone.now()
        # A new job is due at once; ignore_conflicts lets two workers add the same row.
        ScheduledJob.objects.bulk_create(
            [ScheduledJob(name=name, next_run=now) for name in self.jobs], ignore_conflicts=True
        )
        enqueued = []
        for job in self.jobs.values():
            try:
                won = self._claim_and_enqueue(job, now)
            except Exception:
                # One broken job must not starve the others; it is retried next tick.
                logger.exception("Could not enqueue periodic job %s", job.name)
                continue
            if won:
                logger.info("Enqueued periodic job %s", job.name)
                enqueued.append(job.name)
        return enqueued

    @staticmethod
    def _claim_and_enqueue(job: Job, now: datetime) -> bool:
        from northstar.core.models import ScheduledJob

        # Claim and enqueue in one transaction: the task row lives in the same
        # database, so either both happen or neither does (no lost or double run).
        with transaction.atomic():
            won = ScheduledJob.objects.filter(name=job.name, next_run__lte=now).update(
                next_run=now + job.every, last_run=now
            )
            if won:
                job.task.enqueue()
        return bool(won)


schedule = Schedule()


def register(name: str, every_seconds: float, task) -> Job:
    """Run `task` (a django-tasks task, enqueued without arguments) every `every_seconds`."""
    return schedule.register(name, every_seconds, task)


def autodiscover() -> None:
    """Import each installed app's `tasks` module, where its periodic jobs are registered."""
    autodiscover_modules("tasks")
