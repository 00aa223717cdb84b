"""`northstar apply FILE [--dry-run] [--as USERNAME]`: bring the plan in line with a plan file."""

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from northstar.goals.plan import Change, PlanResult, do_apply_plan

SYMBOLS = {"create": "+", "update": "~"}


class Command(BaseCommand):
    help = (
        "Apply a plan file (YAML, apiVersion northstar/v1; see docs/plan-as-code.md): create what is "
        "missing, update what differs, delete nothing. All or nothing: any error and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The plan file (.yaml); '-' reads standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")
        parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                            help="Who the changes are made and recorded as (default: the first superuser).")

    def handle(self, *, file, dry_run, as_user, verbosity, **options):
        if file == "-":
            data, name = sys.stdin.buffer.read(), "<stdin>"
        else:
            try:
                data, name = Path(file).read_bytes(), file
            except OSError as error:
                raise CommandError(f"Cannot read {file}: {error.strerror or error}.") from None
        result = do_apply_plan(data, name, acting_user=self._acting_user(as_user), dry_run=dry_run)
        self._report(result, show_fields=verbosity >= 2)

    def _acting_user(self, username: str | None):
        User = get_user_model()
        if username:
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("There is no superuser to apply the plan as; pass --as USERNAME.")
        return user

    def _report(self, result: PlanResult, show_fields: bool) -> None:
        write = self.stdout.write
        if result.errors:
            for error in result.errors:
                self.stderr.write(str(error))
            count = len(result.errors)
            raise CommandError(f"{count} error{'' if count == 1 else 's'} in {result.file_name}; "
                               "nothing was applied.")
        write(f"{result.file_name}" + (" (dry run)" if result.dry_run else ""))
        for change in result.changes:
            write(_line(change, show_fields))
        for change in result.kept:
            write(f"  kept (not in file): {change.label}")
        write(f"= {result.counts['unchanged']} unchanged")
        counts = result.counts
        summary = f"{counts['create']} to create, {counts['update']} to update"
        if not result.changes:
            write("Nothing to change: the plan already matches the file.")
        elif result.dry_run:
            write(f"Dry run: {summary}; nothing was written.")
        else:
            write(self.style.SUCCESS(f"Applied: {counts['create']} created, {counts['update']} updated."))


def _line(change: Change, show_fields: bool) -> str:
    where = f" (line {change.line})" if change.line else ""
    text = f"{SYMBOLS[change.action]} {change.action} {change.label}"
    if change.action == "update":
        return text + ": " + "; ".join(f"{c.field} {_value(c.before)} -> {_value(c.after)}"
                                       for c in change.changes) + where
    if show_fields and change.changes:
        text += ": " + "; ".join(f"{c.field} {_value(c.after)}" for c in change.changes)
    return text + where


def _value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)
