"""`northstar worker`: django-tasks-db's task loop plus a heartbeat and the periodic-job scheduler.

The task loop (claiming with a locked, exclusive transaction, running, recording
the result, stopping on SIGTERM) is django_tasks_db's own `Worker`, run in the
main thread because it installs the signal handlers. Beside it, a daemon thread
writes this worker's heartbeat (read by /health) and ticks the schedule.
"""

import logging
import os
import socket
import threading
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS
from django_tasks_db.management.commands.db_worker import Worker

from northstar.core import schedule as schedule_module
from northstar.core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def current_worker_id() -> str:
    """host:pid, unique across a pool; the task backend caps worker ids at 64 characters."""
    pid = f":{os.getpid()}"
    return socket.gethostname()[: 64 - len(pid)] + pid


def beat(worker_id: str, started: datetime, now: datetime | None = None) -> None:
    now = now or timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"last_seen": now},
        create_defaults={"last_seen": now, "started": started, "hostname": socket.gethostname()[:255]},
    )


class Housekeeper:
    """Heartbeat plus scheduler: `tick()` once, or `start()` a daemon thread ticking every `every` seconds."""

    def __init__(self, worker_id: str, every: float, schedule=None):
        self.worker_id = worker_id
        self.every = every
        self.schedule = schedule or schedule_module.schedule
        self.started = timezone.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="northstar-housekeeper", daemon=True)

    def tick(self) -> None:
        beat(self.worker_id, self.started)
        self.schedule.run_due()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:
                    # A locked or briefly unreachable database must not kill the
                    # heartbeat for good: log it and try again next time.
                    logger.exception("Worker heartbeat or schedule tick failed")
                self._stop.wait(self.every)
        finally:
            # Django opens one connection per thread; this thread's is ours to close.
            connection.close()


def run_worker(*, interval: float = 1.0, once: bool = False, queues: str = "*") -> None:
    """Run until SIGTERM/SIGINT, or with `once`, until no task is ready."""
    schedule_module.autodiscover()
    worker_id = current_worker_id()
    keeper = Housekeeper(worker_id, every=settings.WORKER_HEARTBEAT_SECONDS)
    worker = Worker(
        queue_names=queues.split(","),
        excluded_queue_names=[],
        interval=interval,
        batch=once,
        backend_name=DEFAULT_TASK_BACKEND_ALIAS,
        # The random start-up delay spreads a fleet restarted at once; --once wants none.
        startup_delay=not once,
        max_tasks=None,
        worker_id=worker_id,
    )
    if once:
        # In the calling thread, so a test sees the heartbeat and due jobs at once.
        keeper.tick()
        worker.run()
        return
    logger.info("Worker %s started; heartbeat every %ss", worker_id, keeper.every)
    keeper.start()
    worker.configure_signals()
    try:
        worker.run()  # returns, or raises SystemExit from the signal handler when idle
    finally:
        keeper.stop()
        logger.info("Worker %s stopped", worker_id)
