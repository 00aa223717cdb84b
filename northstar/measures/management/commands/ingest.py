"""`northstar ingest FILE`: store a CSV or XLSX file of observations (docs/ingest.md)."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from northstar.core.progress import Progress
from northstar.measures.files import FileIngest, ingest_file

SHOWN = 20  # errors listed; -v 2 lists them all


class Command(BaseCommand):
    help = (
        "Store observations from a CSV or XLSX file (columns measure, ts, value or good and total, source_id; "
        "see docs/ingest.md). All or nothing unless --partial. Exits with status 1 when any line has an error."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The .csv or .xlsx file.")
        parser.add_argument("--dry-run", action="store_true", help="Check every line and report; write nothing.")
        parser.add_argument("--partial", action="store_true",
                            help="Write the good lines even when some lines have errors (still exits 1).")
        parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                            help="Who the observations are recorded as (default: the first superuser).")

    def handle(self, *, file, dry_run, partial, as_user, verbosity, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}.") from None
        user = self._acting_user(as_user)
        bar = _Bar() if self.stderr.isatty() else None
        try:
            outcome = ingest_file(path.name, data, acting_user=user, dry_run=dry_run, partial=partial, progress=bar)
        finally:
            if bar:
                bar.close()
        self._report(outcome, show_all=verbosity >= 2)

    def _acting_user(self, username: str | None):
        User = get_user_model()
        if username:
            user = User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user named {username!r}.")
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("There is no superuser to record the observations as; pass --as USERNAME.")
        return user

    def _report(self, outcome: FileIngest, show_all: bool) -> None:
        read, write = outcome.read, self.stdout.write
        write(f"{outcome.file_name}: {_plural(read.rows, 'row')}" + (" (dry run)" if outcome.dry_run else ""))
        if read.columns:
            write("Columns: " + ", ".join(f"{header} -> {name}" for name, header in read.columns.items()))
        if read.ignored_columns:
            write("Ignored columns: " + ", ".join(read.ignored_columns))
        for measure in outcome.measures:
            span = f"{_when(measure.first)} to {_when(measure.last)}" if measure.first else ""
            write(f"  {measure.key:<24} {_plural(measure.lines, 'line'):>14}  {span}")
        if outcome.errors:
            shown = outcome.errors if show_all else outcome.errors[:SHOWN]
            more = f" (first {len(shown)}; -v 2 lists all)" if len(shown) < len(outcome.errors) else ""
            write(f"{_plural(len(outcome.errors), 'error')}{more}:")
            for error in shown:
                write(f"  {error}")
        stopped = bool(read.errors) or (bool(outcome.errors) and not outcome.partial)
        if stopped:
            raise CommandError(f"{_plural(len(outcome.errors), 'error')} in {outcome.file_name}; "
                               "nothing was written.")
        verb = "would be written" if outcome.dry_run else "written"
        write(f"{outcome.written:,} {verb}, {outcome.duplicates:,} already stored, "
              f"{_plural(outcome.rejected, 'line')} rejected.")
        if outcome.dry_run:
            write("Dry run: nothing was written.")
        elif outcome.applied:
            write(self.style.SUCCESS(f"Stored as batch {outcome.batch.uid}."))
        else:
            write("Nothing new to store.")
        if outcome.errors:
            raise CommandError(f"{_plural(outcome.rejected, 'line')} of {outcome.file_name} rejected"
                               + ("." if outcome.dry_run else "; the other lines were written."))


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _when(moment) -> str:
    return moment.isoformat(timespec="minutes") if moment else ""


class _Bar:
    """A progress bar on the terminal for each stage: reading the rows, then checking and storing them."""

    def __init__(self):
        self.stage, self.bar = None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, Progress(stage, total=total, stream=sys.stderr)
        self.bar.advance(done - self.bar.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)  # draws the finished bar and ends its line
            self.bar = None
