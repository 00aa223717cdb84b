"""`northstar worker`: run background tasks, the heartbeat and periodic jobs."""

from django.core.management.base import BaseCommand, CommandError

from northstar.core.worker import run_worker


class Command(BaseCommand):
    help = "Run background tasks and periodic jobs until SIGTERM (or, with --once, until none is ready)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0,
                            help="Seconds to wait when no task is ready (default: 1).")
        parser.add_argument("--once", action="store_true",
                            help="Tick the schedule once, run every ready task, then exit.")
        parser.add_argument("--queues", default="*",
                            help="Comma-separated queue names to take tasks from (default: all).")

    def handle(self, *, interval, once, queues, **options):
        if interval < 0:
            raise CommandError("--interval must be zero or more seconds.")
        run_worker(interval=interval, once=once, queues=queues)
