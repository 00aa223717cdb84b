"""Bench: import a 10,000-person HR export on SQLite, then the same file again, then a changed one.

    .venv/bin/python bench/import_people.py [--rows 10000] [--seed 7]   (or `make bench`)

Always runs against a fresh SQLite database in a temporary directory, never
against your own data or a PostgreSQL server. The file is generated
deterministically from the seed: a management tree (spans of about 8), org units
created through the directory services, headers as a Workday-style export writes
them, and rows shuffled so that many managers come after their reports. The
figures are printed and appended to bench/results/import_people.md.
"""

import argparse
import csv
import io
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import unicodedata
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "import_people.md"
TARGET_SECONDS = 30

HEADER = ["Worker ID", "First Name", "Last Name", "Work Email", "Business Title", "Job Profile", "Manager ID",
          "Department Code", "Work Location", "Worker Status", "Hire Date", "Pay Grade"]
FIRST = ["Ana", "Ben", "Chloé", "Dev", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mateo",
         "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe"]
LAST = ["Almeida", "Brown", "Chen", "Dubois", "Eze", "Fischer", "García", "Haddad", "Ivanova", "Jones", "Kowalski",
        "Lindqvist", "Müller", "Nakamura", "Okafor", "Patel", "Rossi", "Santos", "Tanaka", "Novak", "Walsh"]
TITLES = ["Engineer", "Senior Engineer", "Analyst", "Designer", "Account Executive", "Support Specialist",
          "Product Manager", "Recruiter", "Accountant", "Data Scientist"]
PROFILES = ["ENG-IC", "ENG-SR", "FIN-AN", "DES-IC", "SAL-AE", "SUP-L1", "PM-IC", "HR-REC", "FIN-ACC", "DATA-IC"]
LOCATIONS = ["Lisbon", "Berlin", "Nairobi", "Toronto", "Singapore", "Remote"]
DIVISIONS = ["engineering", "sales", "finance", "operations", "people", "product"]
TEAMS_PER_DIVISION = 8
SPAN = 8


def setup_django(data_dir: str) -> None:
    # A throwaway SQLite file: the bench must never write to a configured PostgreSQL.
    os.environ.pop("DATABASE_URL", None)
    os.environ["NORTHSTAR_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "northstar.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def create_org_units(admin) -> dict[str, list[str]]:
    """Company, divisions and teams, through the directory services; division key -> team keys."""
    from northstar.directory.models import OrgUnit
    from northstar.directory.services import do_create_org_unit

    company = do_create_org_unit(key="acme", name="Acme", kind=OrgUnit.Kind.COMPANY, acting_user=admin)
    teams = {}
    for division_key in DIVISIONS:
        division = do_create_org_unit(key=division_key, name=division_key.title(), kind=OrgUnit.Kind.DIVISION,
                                      parent=company, acting_user=admin)
        teams[division_key] = []
        for number in range(1, TEAMS_PER_DIVISION + 1):
            key = f"{division_key}-{number}"
            do_create_org_unit(key=key, name=f"{division_key.title()} team {number}", kind=OrgUnit.Kind.TEAM,
                               parent=division, acting_user=admin)
            teams[division_key].append(key)
    return teams


def generate_people(count: int, teams: dict[str, list[str]], rng: random.Random) -> list[list[str]]:
    """A tree with spans of about SPAN: person i reports to someone hired into the tree before them."""
    rows, unit_of = [], {}
    for i in range(count):
        if i == 0:
            manager, unit = "", "acme"
        else:
            boss = max(0, (i - 1) // SPAN - rng.randint(0, 2))
            manager = f"W{boss:06d}"
            unit = _unit_under(unit_of[boss], teams, rng)
        unit_of[i] = unit
        first, last = rng.choice(FIRST), rng.choice(LAST)
        job = rng.randrange(len(TITLES))
        hired = date(2005, 1, 1) + timedelta(days=rng.randrange(7300))
        status = "On Leave" if rng.random() < 0.03 else "Active"
        rows.append([f"W{i:06d}", first, last, _email(first, last, i), TITLES[job],
                     PROFILES[job], manager, unit, rng.choice(LOCATIONS), status, hired.isoformat(),
                     f"P{rng.randint(1, 9)}"])
    rng.shuffle(rows)  # an export's order is not the tree's: managers often come after reports
    return rows


def _email(first: str, last: str, number: int) -> str:
    local = unicodedata.normalize("NFKD", f"{first}.{last}.{number}").encode("ascii", "ignore").decode()
    return f"{local.lower()}@example.com"  # "Chloé" -> "chloe": mailboxes are ASCII in practice


def _unit_under(manager_unit: str, teams: dict[str, list[str]], rng: random.Random) -> str:
    if manager_unit == "acme":
        return rng.choice(DIVISIONS)
    if manager_unit in teams:
        return rng.choice(teams[manager_unit])
    return manager_unit  # people stay in their manager's team


def changed(rows: list[list[str]], rng: random.Random) -> list[list[str]]:
    """The next month's export: 1% promoted, 1% left, 100 hired (reporting to existing managers)."""
    rows = [list(r) for r in rows]
    for row in rng.sample(rows, len(rows) // 100):
        row[4] = "Senior " + row[4].removeprefix("Senior ")
    leaving = {r[0] for r in rng.sample(rows, len(rows) // 100)}
    managers = {r[6] for r in rows}
    rows = [r for r in rows if r[0] not in leaving or r[0] in managers]  # managers stay
    template = rows[-1]
    for i in range(100):
        rows.append([f"H{i:06d}", "New", f"Hire {i}", f"new.hire.{i}@example.com", "Engineer", "ENG-IC",
                     template[6], template[7], "Remote", "Active", "2025-06-02", "P1"])
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # as Excel's "CSV UTF-8" writes it


def timed(label: str, run):
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    counts = result.plan.counts
    assert not result.errors, result.errors[:5]
    print(f"{label:<28}{seconds:7.2f} s   create {counts['create']:>6,}  update {counts['update']:>5,}  "
          f"deactivate {counts['deactivate']:>4,}  unchanged {counts['unchanged']:>6,}")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-record", action="store_true", help="Print only; do not append to the results.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="northstar-bench-") as data_dir:
        setup_django(data_dir)
        from django.contrib.auth import get_user_model

        from northstar.audit.models import AuditEvent
        from northstar.audit.services import verify_chain
        from northstar.directory.importer import do_import_people
        from northstar.directory.models import Person

        admin = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "x")
        rng = random.Random(args.seed)
        rows = generate_people(args.rows, create_org_units(admin), rng)
        data = to_csv(rows)
        print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB CSV, SQLite {sqlite3.sqlite_version}")

        def run(payload, dry_run=False):
            return lambda: do_import_people("people.csv", payload, acting_user=admin, dry_run=dry_run)

        preview, _ = timed("preview (dry run), empty db", run(data, dry_run=True))
        first, _ = timed("first import", run(data))
        again, result = timed("re-import, same file", run(data))
        assert not result.applied and not result.plan.has_changes, "re-import must change nothing"
        monthly, _ = timed("next month's file", run(to_csv(changed(rows, rng))))
        assert Person.objects.count() == args.rows + 100
        chain = verify_chain()
        print(f"people {Person.objects.count():,}, audit events {AuditEvent.objects.count():,}, "
              f"audit chain {'ok' if chain.ok else chain.problems}")
        verdict = "PASS" if first < TARGET_SECONDS else "FAIL"
        print(f"first import {first:.2f} s: {verdict} (target under {TARGET_SECONDS} s)")
        if not args.no_record:
            record(args.rows, len(data), preview, first, again, monthly)


def record(rows: int, size: int, preview: float, first: float, again: float, monthly: float) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# People import benchmark\n\n"
            "`bench/import_people.py`: a generated HR export (CSV, Workday-style headers, management tree\n"
            "with spans of about 8, rows shuffled) imported into a fresh SQLite database with\n"
            "`do_import_people`. Times in seconds, wall clock, including reading and checking the file and\n"
            "writing the audit events. Target: the first import of 10,000 rows in under 30 s.\n"
            "*Next month* = 1% promoted, 1% left (deactivated), 100 hired.\n\n"
            "| date | machine | Python | SQLite | rows | MB | preview | first import | re-import "
            "(no-op) | next month |\n"
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        )
    machine = f"{platform.machine()} {os.cpu_count()} CPU, {platform.system()}"
    line = (f"| {date.today().isoformat()} | {machine} | {platform.python_version()} | {sqlite3.sqlite_version} "
            f"| {rows:,} | {size / 1e6:.1f} | {preview:.2f} | {first:.2f} | {again:.2f} | {monthly:.2f} |\n")
    with RESULTS.open("a") as results:
        results.write(line)
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
