"""`northstar demo --size S|M|L`: load the demo organisation and print its logins."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from northstar.core.progress import Progress
from northstar.directory.demo import (
    DEMO_PASSWORD,
    SIZES,
    DirectoryNotEmpty,
    build_plan,
    existing_directory,
    login_rows,
    write_plan,
)


class Command(BaseCommand):
    help = (
        "Load a deterministic demo organisation (S: 200 people, M: 5,000, L: 100,000) "
        "into an empty database and print the demo logins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--size", type=str.upper, choices=list(SIZES), default="S",
                            help="S, M or L (default: S).")
        parser.add_argument("--seed", type=int, default=1,
                            help="Random seed; the same seed gives the same organisation (default: 1).")
        parser.add_argument("--if-empty", action="store_true",
                            help="Do nothing (but print the logins) if the database already has a directory.")

    def handle(self, *, size, seed, if_empty, verbosity, **options):
        existing = existing_directory()
        if existing and not if_empty:
            raise CommandError(self._not_empty_message(existing))
        if existing:
            self.stdout.write("The database is not empty; the demo was not added.")
        else:
            self._load(size, seed, verbosity)
        self._print_logins()

    def _load(self, size: str, seed: int, verbosity: int) -> None:
        started = time.monotonic()
        plan = build_plan(size, seed)
        counts = plan.counts()
        rows = counts["org_units"] + counts["people"] + counts["services"] + counts["processes"] \
            + counts["subjects"]
        try:
            if verbosity >= 1:
                with Progress(f"Writing demo organisation {size}", total=rows, stream=self.stderr) as progress:
                    write_plan(plan, progress)
            else:
                write_plan(plan)
        except DirectoryNotEmpty as error:  # someone else filled it meanwhile
            raise CommandError(f"The database is not empty ({error}); the demo was not added.") from None
        self.stdout.write(
            f"Demo organisation (size {size}, seed {seed}): {counts['people']:,} people, "
            f"{counts['org_units']:,} org units, {counts['services']:,} services, "
            f"{counts['processes']:,} processes in {time.monotonic() - started:.1f}s."
        )

    def _not_empty_message(self, existing: dict[str, int]) -> str:
        what = ", ".join(f"{count:,} {kind}" for kind, count in existing.items())
        return (
            f"The database is not empty ({what}); the demo only goes into an empty one. "
            "Use --if-empty to skip it quietly, or set NORTHSTAR_DATA_DIR to a new directory "
            "(and run `northstar migrate`) for a separate demo database."
        )

    def _print_logins(self) -> None:
        rows = login_rows()
        if not rows:
            self.stdout.write("No demo logins exist in this database.")
            return
        self.stdout.write(f"\nOpen {settings.SITE_URL} and sign in with password {DEMO_PASSWORD!r}:\n")
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        header = ("login", "who")
        self.stdout.write(f"  {header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  person")
        for username, description, person in rows:
            self.stdout.write(f"  {username:<{widths[0]}}  {description:<{widths[1]}}  {person}")
