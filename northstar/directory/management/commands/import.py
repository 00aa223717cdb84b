"""`northstar import people FILE`: bring the directory in line with an HR system's export."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from northstar.core.errors import Conflict
from northstar.core.progress import Progress
from northstar.directory.importer import LABELS, ImportResult, do_import_people

SHOWN = 20  # entries listed per section; -v 2 lists them all


class Command(BaseCommand):
    help = (
        "Import people from a CSV or XLSX export (columns mapped by header; see docs/import.md). "
        "All or nothing: any error and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["people"], help="What the file holds (only 'people' for now).")
        parser.add_argument("file", help="The .csv or .xlsx file.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")
        parser.add_argument("--no-deactivate", action="store_true",
                            help="Keep people who are missing from the file (default: deactivate them).")
        parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                            help="Who the import is recorded as (admin or HR; default: the first superuser).")

    def handle(self, *, kind, file, dry_run, no_deactivate, as_user, verbosity, **options):
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}.") from None
        bars = _Bars() if self.stderr.isatty() else None
        try:
            result = do_import_people(path.name, data, acting_user=self._acting_user(as_user), dry_run=dry_run,
                                      deactivate_missing=not no_deactivate, progress=bars)
        except PermissionDenied as error:
            raise CommandError(str(error)) from None
        except Conflict as error:
            raise CommandError(error.message) from None
        finally:
            if bars:
                bars.close()
        self._report(result, show_all=verbosity >= 2)

    def _acting_user(self, username: str | None):
        User = get_user_model()
        if username:
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("There is no superuser to record the import as; pass --as USERNAME.")
        return user

    def _report(self, result: ImportResult, show_all: bool) -> None:
        plan, write = result.plan, self.stdout.write
        write(f"{result.file_name}: {_plural(plan.rows, 'row')}" + (" (dry run)" if result.dry_run else ""))
        if plan.columns:
            write("Columns: " + ", ".join(f"{header} -> {LABELS.get(name, name.replace('_', ' '))}"
                                          for name, header in plan.columns.items()))
        if plan.ignored_columns:
            write("Ignored columns: " + ", ".join(plan.ignored_columns))
        if result.errors:
            write(f"{_plural(len(result.errors), 'error')}:")
            for error in result.errors:
                write(f"  {error}")
            raise CommandError(f"{_plural(len(result.errors), 'error')} in {result.file_name}; "
                               "nothing was imported.")
        for label, count in plan.counts.items():
            write(f"  {label:<11}{count:>9,}")
        self._list("Create", [f"line {p.line}: {p.employee_id} {p.name}" for p in plan.creates], show_all)
        self._list("Update", [f"line {p.line}: {p.employee_id} {p.name}: {_changes(p.changes)}"
                              for p in plan.updates], show_all)
        self._list("Deactivate", [f"{p.employee_id} {p.name}" for p in plan.deactivations], show_all)
        if result.dry_run:
            write("Dry run: nothing was written." if plan.has_changes else "Nothing to change.")
        elif result.applied:
            counts = plan.counts
            write(self.style.SUCCESS(f"Imported: {counts['create']:,} created, {counts['update']:,} updated, "
                                     f"{counts['deactivate']:,} deactivated."))
        else:
            write("Nothing to change: the directory already matches the file.")

    def _list(self, title: str, lines: list[str], show_all: bool) -> None:
        if not lines:
            return
        shown = lines if show_all else lines[:SHOWN]
        more = f" (first {len(shown)}; -v 2 lists all)" if len(shown) < len(lines) else ""
        self.stdout.write(f"{title}{more}:")
        for line in shown:
            self.stdout.write(f"  {line}")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _changes(changes: dict[str, tuple[str, str]]) -> str:
    return "; ".join(f"{LABELS.get(name, name)} '{before}' -> '{after}'"
                     for name, (before, after) in changes.items())


class _Bars:
    """A progress bar on the terminal for each stage the importer reports."""

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
