"""Core background tasks and their schedule."""

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from northstar.core.models import WorkerHeartbeat
from northstar.core.schedule import register

# A worker that has not beaten for a day is gone, not slow: /health only needs
# the recent rows, and stopped workers (each with its own host:pid id) would
# otherwise pile up.
HEARTBEAT_RETENTION = timedelta(days=1)


@task()
def prune_worker_heartbeats() -> int:
    """Delete heartbeats of workers not seen for a day; return how many went."""
    cutoff = timezone.now() - HEARTBEAT_RETENTION
    deleted, _ = WorkerHeartbeat.objects.filter(last_seen__lt=cutoff).delete()
    return deleted


register("prune_worker_heartbeats", every_seconds=3600, task=prune_worker_heartbeats)
