"""Bench: observation ingestion speed, `do_ingest` and `POST /api/v1/observations`, on a table that
already holds millions of observations. Quicker to build than bench/scale.py (no plan, no objectives).

    nice -n 10 .venv/bin/python bench/ingest_speed.py --db sqlite               # build, then measure
    nice -n 10 .venv/bin/python bench/ingest_speed.py --db sqlite --reuse       # measure again
    nice -n 10 .venv/bin/python bench/ingest_speed.py --db postgres --reuse --profile --phases http

Builds its own database: a SQLite file under --dir (default /tmp/ns-ingest-speed-sqlite), or the
PostgreSQL database `ns_ingest_speed` on 127.0.0.1 (dropped and created here; never any other):
migrate, the S demo organisation (for its users and subjects), the current fiscal year's periods,
--measures measures (one in seven a ratio) and --observations observations spread over the year
so far, loaded as plain rows; their aggregates are folded in with aggregates.add_observations.

Then it measures, in this process (nothing is recorded; the after-commit re-scoring hook is off):
  bulk   do_ingest of 100,000 observations on 20,000 measures (5 each), the same with source ids,
         the same batch again (all duplicates), and 30,000 observations on 30,000 measures (1 each)
  http   POST /api/v1/observations with 10,000 observations per request (2,000 measures x 5, times
         as ISO text) through django.test.Client: JSON parsing, the request schema, the handler and
         its response, without an HTTP server; the median of --requests requests after a warm-up
  check  the aggregates of every measure written equal the SQL re-count (aggregate_observations)
--profile runs each measurement under cProfile and prints the top functions.
"""

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
from scale import fresh_database  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
PG_NAME = "ns_ingest_speed"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PHASES = ("bulk", "http", "check")
RATIO_EVERY = 7  # measure i is a ratio measure when i % 7 == 0
AGGREGATIONS = ("last", "sum", "mean", "min", "max", "count")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--measures", type=int, default=30_000)
    parser.add_argument("--observations", type=int, default=3_000_000)
    parser.add_argument("--dir", help="SQLite: working directory (default /tmp/ns-ingest-speed-sqlite)")
    parser.add_argument("--reuse", action="store_true", help="Measure the database built by an earlier run")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"Comma-separated, from {', '.join(PHASES)}")
    parser.add_argument("--requests", type=int, default=10, help="HTTP requests to time (after one warm-up)")
    parser.add_argument("--profile", action="store_true", help="cProfile each measurement")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    args.dir = Path(args.dir or f"/tmp/ns-ingest-speed-{args.db}")
    if not str(args.dir.resolve()).startswith("/tmp/"):
        parser.error("--dir must be under /tmp")
    return args


def setup_django(args) -> None:
    """Environment for settings.py, set before django.setup(), never pointing at anyone else's database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "northstar.settings"
    os.environ["NORTHSTAR_DATA_DIR"] = str(args.dir)
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.db == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = f"{PG_SERVER}/{PG_NAME}"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# -- building ----------------------------------------------------------------------------------


def build(args) -> None:
    fresh_database(args, PG_NAME)
    setup_django(args)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from northstar.directory.models import Subject
    from northstar.goals.services import do_create_fiscal_year
    from northstar.measures.models import IngestBatch, Measure

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("demo", size="S", verbosity=0)
    admin = get_user_model().objects.get(username="admin")
    today = datetime.now(UTC)
    periods = do_create_fiscal_year(today.year, acting_user=admin)
    subjects = list(Subject.objects.order_by("pk").values_list("pk", flat=True))
    Measure.objects.bulk_create([
        Measure(key=f"speed-m{i}", name=f"Speed measure {i}", subject_id=subjects[i % len(subjects)],
                aggregation="ratio" if i % RATIO_EVERY == 0 else AGGREGATIONS[i % len(AGGREGATIONS)])
        for i in range(args.measures)], batch_size=2000)
    log(f"migrate, demo S, {len(periods)} periods, {args.measures:,} measures: {time.perf_counter() - began:.1f} s")
    batch = IngestBatch.objects.create(uid=__import__("uuid").uuid4(), source=IngestBatch.Source.DEMO,
                                       received=today, detail="bench/ingest_speed.py generated data",
                                       items=args.observations, written=args.observations)
    load(args, batch.pk, periods)
    (args.dir / "build.json").write_text(json.dumps({
        "db": args.db, "measures": args.measures, "observations": args.observations,
        "built": today.isoformat(timespec="seconds")}))


def load(args, batch_id: int, periods) -> None:
    """Observations over the year so far, skewed over the measures, as plain rows; then their aggregates."""
    from django.db import connection, transaction

    from northstar.measures.aggregates import NewObservations, add_observations, datetime_params, nullable
    from northstar.measures.models import Measure

    rng = np.random.default_rng(args.seed)
    pks = np.array(Measure.objects.filter(key__startswith="speed-m").order_by("pk").values_list("pk", flat=True))
    year = periods[0]
    start = year.bounds()[0].timestamp()
    stop = time.time() - 3600
    weight = rng.lognormal(0, 1, len(pks))
    cumulative = np.cumsum(weight) / weight.sum()
    began = time.perf_counter()
    chunk = 500_000
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM measures_observation")
        next_id = cursor.fetchone()[0] + 1
    for first in range(0, args.observations, chunk):
        size = min(chunk, args.observations - first)
        idx = np.minimum(np.searchsorted(cumulative, rng.random(size), side="right"), len(pks) - 1)
        ratio = idx % RATIO_EVERY == 0
        ts_us = np.sort(rng.integers(int(start * 1e6), int(stop * 1e6), size))
        values = np.where(ratio, np.nan, np.round(rng.lognormal(3, 1, size), 2))
        totals = rng.integers(1, 200, size).astype(float)
        goods = np.floor(totals * 0.9)
        goods[~ratio] = np.nan
        totals[~ratio] = np.nan
        ids = np.arange(next_id, next_id + size, dtype=np.int64)
        next_id += size
        rows = zip(ids.tolist(), pks[idx].tolist(), datetime_params(ts_us), nullable(values), nullable(goods),
                   nullable(totals), [batch_id] * size, strict=True)
        columns = "(id, measure_id, ts, value, good, total, batch_id)"
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY measures_observation {columns} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO measures_observation {columns} VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                   rows)
            add_observations(NewObservations(ids=ids, measure_ids=pks[idx], ts_us=ts_us, values=values,
                                             goods=np.nan_to_num(goods), totals=np.nan_to_num(totals)))
        log(f"  observations: {first + size:,} ({(first + size) / (time.perf_counter() - began):,.0f}/s)")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT setval(pg_get_serial_sequence('measures_observation', 'id'), %s)", [next_id - 1])
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    log(f"loaded {args.observations:,} observations with their aggregates in {time.perf_counter() - began:.1f} s")


# -- measuring ---------------------------------------------------------------------------------


class Workload:
    """Observations to send: measures picked at random, times in the last 6 hours."""

    def __init__(self, args):
        from northstar.measures.models import Measure

        rows = Measure.objects.filter(key__startswith="speed-m").values_list("key", "aggregation")
        self.keys = [key for key, _aggregation in rows]
        self.ratio = [aggregation == "ratio" for _key, aggregation in rows]
        self.rng = np.random.default_rng(args.seed + 1)
        self.serial = int(time.time() * 1000)  # source ids unique across runs

    def items(self, measures: int, per_measure: int, *, source_ids: bool = False, as_text: bool = False):
        from northstar.measures.ingest import ObservationIn

        now = datetime.now(UTC)
        picks = np.repeat(self.rng.choice(len(self.keys), size=measures, replace=False), per_measure)
        self.rng.shuffle(picks)
        ages = self.rng.uniform(60, 6 * 3600, len(picks)).tolist()
        values = np.round(self.rng.lognormal(3, 1, len(picks)), 2).tolist()
        totals = self.rng.integers(1, 200, len(picks)).tolist()
        out = []
        for pick, age, value, total in zip(picks.tolist(), ages, values, totals, strict=True):
            ts = now - timedelta(seconds=age)
            if as_text:
                ts = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if self.ratio[pick]:
                item = ObservationIn(measure=self.keys[pick], ts=ts, good=float(total * 9 // 10), total=float(total))
            else:
                item = ObservationIn(measure=self.keys[pick], ts=ts, value=value)
            if source_ids:
                item.source_id = f"speed-{self.serial}"
                self.serial += 1
            out.append(item)
        return out


class Profiled:
    def __init__(self, args, name: str):
        self.enabled, self.name = args.profile, name

    def __enter__(self):
        if self.enabled:
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def __exit__(self, *exc):
        if self.enabled:
            self.profiler.disable()
            print(f"\n==== profile {self.name}, by own time")
            stats = pstats.Stats(self.profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(20)
            print(f"==== profile {self.name}, by cumulative time")
            stats.sort_stats("cumulative").print_stats(30)


def no_rescoring():
    """do_ingest's after-commit hook (inline re-score or task enqueue) switched off, to time the write alone."""
    return mock.patch("northstar.measures.ingest._observations_changed", lambda measure_ids: None)


def phase_bulk(args, work, touched: set) -> None:
    from django.contrib.auth import get_user_model

    from northstar.measures.ingest import do_ingest

    admin = get_user_model().objects.get(username="admin")
    with_ids = work.items(20_000, 5, source_ids=True)
    runs = [("100,000 on 20,000 measures", work.items(20_000, 5), 100_000),
            ("100,000 on 20,000 measures, with source ids", with_ids, 100_000),
            ("the same again (all duplicates)", with_ids, 0),
            (f"{min(30_000, len(work.keys)):,} on as many measures", work.items(min(30_000, len(work.keys)), 1),
             None)]
    for label, items, written in runs:
        with no_rescoring(), Profiled(args, f"bulk {label}"):
            began = time.perf_counter()
            result = do_ingest(items, source="api", acting_user=admin)
            seconds = time.perf_counter() - began
        assert result.written == (len(items) if written is None else written), result
        touched.update(result.measure_ids)
        log(f"bulk do_ingest, {label}: {seconds:.2f} s = {len(items) / seconds:,.0f}/s")


def phase_http(args, work, touched: set) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from northstar.core.services import do_create_api_token

    admin = get_user_model().objects.get(username="admin")
    _row, token = do_create_api_token(name="bench/ingest_speed.py", scope="write", days=1, acting_user=admin)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    bodies = []
    for _ in range(args.requests + 1):
        bodies.append(json.dumps({"observations": [
            {"measure": i.measure, "ts": i.ts, **({"good": i.good, "total": i.total} if i.total is not None
                                                   else {"value": i.value})}
            for i in work.items(2_000, 5, as_text=True)]}))
    times = []
    for n, body in enumerate(bodies):
        with no_rescoring(), Profiled(args if n == 1 else argparse.Namespace(profile=False), "http"):
            began = time.perf_counter()
            response = client.post("/api/v1/observations", body, content_type="application/json")
            elapsed = time.perf_counter() - began
        assert response.status_code == 200, response.content[:300]
        assert response.json()["written"] == 10_000
        if n:
            times.append(elapsed)
    median = statistics.median(times)
    log(f"HTTP (in-process) POST /api/v1/observations, {args.requests} x 10,000: median {median:.3f} s per request "
        f"= {10_000 / median:,.0f}/s (all: {', '.join(f'{t:.2f}' for t in times)})")
    from northstar.measures.models import Measure

    touched.update(Measure.objects.filter(key__startswith="speed-m", aggregates__last_ts__gte=datetime.now(UTC)
                                          - timedelta(hours=7)).values_list("pk", flat=True).distinct())


def _resolution(vendor: str, name: str, row: dict) -> float:
    """What the SQL re-count may be off by in a least-squares sum: on SQLite it counts t with
    julianday(), which keeps whole milliseconds (the observations here have microseconds)."""
    if vendor != "sqlite" or name not in ("sum_t", "sum_tt", "sum_ty"):
        return 0.0
    n, ms = row["n"], 1e-3
    largest = max(abs(row["min"] or 0.0), abs(row["max"] or 0.0))
    return {"sum_t": n * ms, "sum_tt": 2 * ms * abs(row["sum_t"]) + n * ms * ms, "sum_ty": n * ms * largest}[name]


def phase_check(args, touched: set) -> None:
    """The aggregates kept at ingest equal the SQL re-count, for the measures written (or a sample)."""
    from django.db import connection

    from northstar.goals.models import Period
    from northstar.measures.aggregates import FIELDS, aggregate_observations
    from northstar.measures.models import MeasureAggregate

    ids = sorted(touched) or list(MeasureAggregate.objects.values_list("measure_id", flat=True).distinct()[:2000])
    ids = sorted(np.random.default_rng(args.seed).choice(ids, size=min(len(ids), 3000), replace=False).tolist())
    began = time.perf_counter()
    checked = 0
    now = datetime.now(UTC)
    for period in Period.objects.all():
        start, end = period.bounds()
        if start > now:
            continue
        recount = aggregate_observations(ids, start, end, start)
        kept = {row["measure_id"]: row for row in MeasureAggregate.objects.filter(period=period, measure_id__in=ids)
                .values("measure_id", *FIELDS)}
        assert set(kept) == set(recount), f"{period.key}: aggregates for other measures than the re-count"
        for measure_id, figures in recount.items():
            row = kept[measure_id]
            for name in FIELDS:
                x, y = row[name], figures[name]
                same = x == y if not isinstance(x, float) or y is None else \
                    abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y)) + _resolution(connection.vendor, name, row)
                assert same, f"{period.key}, measure {measure_id}, {name}: kept {x!r}, re-counted {y!r}"
            checked += 1
    log(f"check: {checked:,} aggregates of {len(ids):,} measures equal the SQL re-count "
        f"({time.perf_counter() - began:.1f} s)")


def main() -> None:
    args = parse_args()
    if not args.reuse:
        build(args)
    else:
        setup_django(args)
    from django.db import connection

    from northstar.measures.models import Observation

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM measures_observation")
        stored = cursor.fetchone()[0]
    log(f"{connection.vendor}: {stored:,} observations stored; load average {os.getloadavg()[0]:.1f}")
    assert Observation.objects.exists()
    work = Workload(args)
    touched: set[int] = set()
    phases = [p for p in args.phases.split(",") if p]
    if "bulk" in phases:
        phase_bulk(args, work, touched)
    if "http" in phases:
        phase_http(args, work, touched)
    if "check" in phases:
        phase_check(args, touched)
    log(f"done; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
