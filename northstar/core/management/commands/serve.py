"""`northstar serve`: the web app and a background worker, started and stopped together.

Development runs Django's runserver; production (NORTHSTAR_MODE=production)
runs gunicorn, after collecting static files. The worker is a child process
(`northstar worker`) that is sent SIGTERM, and waited for, when serve exits.
"""

import importlib.util
import logging
import signal
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger(__name__)

# How long a worker may take to finish its current task after SIGTERM.
WORKER_STOP_SECONDS = 30


def start_worker() -> subprocess.Popen:
    # A new session keeps the terminal's Ctrl+C away from the worker: serve alone
    # decides when it stops, and sends it a single SIGTERM (a second signal would
    # make the worker abandon its current task).
    return subprocess.Popen([sys.executable, "-m", "northstar.cli", "worker"], start_new_session=True)


def stop_child(process: subprocess.Popen, timeout: float = WORKER_STOP_SECONDS) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("Process %s did not stop within %ss; killing it", process.pid, timeout)
            process.kill()
            process.wait()
    return process.returncode


def watch_worker(process: subprocess.Popen, stopping: threading.Event) -> None:
    """Say so loudly if the worker dies while the web app keeps serving."""
    code = process.wait()
    if not stopping.is_set():
        logger.error("The background worker exited (code %s); tasks wait until serve is restarted.", code)


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Command(BaseCommand):
    help = "Serve Northstar with its background worker (runserver in development, gunicorn in production)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default: 8000).")

    def handle(self, *, host, port, **options):
        if settings.PRODUCTION:
            if importlib.util.find_spec("gunicorn") is None:
                raise CommandError(
                    "Production mode needs a WSGI server: install gunicorn (pip install gunicorn), "
                    "or run northstar.wsgi:application under your own server and `northstar worker` beside it."
                )
            call_command("collectstatic", interactive=False, verbosity=0)

        address = bind_address(host, port)
        # SIGTERM (from systemd, docker, a test) must unwind through `finally`
        # below, so the worker is stopped too; Python's default would just die.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        worker = start_worker()
        stopping = threading.Event()
        threading.Thread(target=watch_worker, args=(worker, stopping), daemon=True).start()
        self.stdout.write(f"Northstar is at http://{address}/ (worker pid {worker.pid}). Ctrl+C stops both.")
        try:
            if settings.PRODUCTION:
                self._serve_production(address)
            else:
                call_command("runserver", address, use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            stopping.set()
            stop_child(worker)

    def _serve_production(self, address: str) -> None:
        # gunicorn takes its worker count from WEB_CONCURRENCY (default 1). An argument
        # list, no shell: the address is passed through as one argument.
        server = subprocess.Popen([  # noqa: S603
            sys.executable, "-m", "gunicorn", "northstar.wsgi:application",
            "--bind", address, "--access-logfile", "-",
        ])
        try:
            code = server.wait()
        finally:
            stop_child(server)
        if code:
            raise CommandError(f"gunicorn exited with code {code}.")
