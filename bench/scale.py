"""Bench: evaluation and ingestion at scale, on SQLite or PostgreSQL.

    nice -n 10 .venv/bin/python bench/scale.py --db sqlite --quick        # 30,000 measures, 3 M observations
    nice -n 10 .venv/bin/python bench/scale.py --db sqlite                # 300,000 measures, 30 M observations
    nice -n 10 .venv/bin/python bench/scale.py --db postgres [--measures N --observations N]

Builds a fresh database (a SQLite file under --dir, or the PostgreSQL database
`northstar_bench` on 127.0.0.1, dropped and created here; never any other database):
migrate, the L demo organisation (100,000 people), the current fiscal year's periods,
then 3 measures per person (all aggregations and polarities), each with a target for the
year and backing a key result of the person's objective; the person's objective rolls up
into their unit's objective, and unit objectives roll up the org tree to the company's.
Observations are generated deterministically (seeded numpy, skewed over the measures,
spread from the start of the year to now) and loaded fast (SQLite: executemany in big
transactions, synchronous=OFF, the (measure, ts) index built after the load; PostgreSQL:
COPY, index and foreign keys added after the load, then VACUUM ANALYZE). The running
per-measure, per-period aggregates (MeasureAggregate) for that data are computed with
numpy group-bys while generating, and bulk-inserted ("aggregate build"); a sample is
checked against `aggregates.aggregate_observations` (the SQL re-count).

Then it measures, prints, and appends to bench/results/scale.md:
  floor        SELECT count(*), sum(value), max(ts) over the year's observations: cold
               (SQLite: the file's pages evicted with posix_fadvise) and warm, in a fresh process
  evaluate     evaluate(period_keys=[the year]) in a fresh process: wall time and max RSS; twice
               (the second replaces the day's snapshots, as the scheduled run does)
  incremental  do_ingest of 1,000 observations (100 measures x 10, then 1,000 x 1), then
               evaluate(measure_ids=...) for the affected measures, median of several runs
  bulk         do_ingest of 100,000 observations in one call (20,000 measures x 5, the same with
               source ids, and 100,000 measures x 1)
  csv          measures.files.ingest_file of a 100,000-line CSV
  http         POST /api/v1/observations, 10,000 observations per request, to gunicorn on 127.0.0.1
  rebuild      aggregates.rebuild_period for one month (the SQL re-count path)

--reuse keeps a database built earlier with the same sizes (`--phases ""` builds only);
--phases picks measurements; --eval-runs / --eval-compute-only add evaluation runs;
--profile runs them under cProfile (stats in /tmp/bench-scale-<phase>-<db>.prof, nothing recorded);
The process measured runs `nice -n 10` beside other work: keep --dir under /tmp; the
full SQLite build needs ~3.5 GB of disk, the PostgreSQL one ~5.5 GB, both ~2 GB of RAM.
"""

import argparse
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale.md"
PG_NAME = "northstar_bench"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PHASES = ("floor", "evaluate", "incremental", "bulk", "csv", "http", "rebuild")
MEASURES_PER_PERSON = 3
CHUNK = 1_000_000

# Targets from the issue.
TARGET_RATIO = 1.0
TARGET_PEAK_MB = 2048
TARGET_INCREMENTAL_MS = 100
TARGET_BULK_RATE = 100_000
TARGET_HTTP_RATE = 20_000

# (aggregation, polarity, share of the measures, unit, name)
KINDS = (
    ("sum", "increase", 0.20, "EUR", "Revenue booked"),
    ("mean", "increase", 0.20, "pts", "Customer satisfaction"),
    ("last", "decrease", 0.15, "items", "Open defects"),
    ("ratio", "increase", 0.15, "%", "On-time delivery"),
    ("max", "range", 0.10, "ms", "Peak response time"),
    ("count", "increase", 0.10, "deals", "Deals closed"),
    ("min", "increase", 0.10, "%", "Lowest weekly availability"),
)
KIND = {name: code for code, (name, *_rest) in enumerate(KINDS)}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def max_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that over from the
    parent across fork + exec, so a child started by a big parent would report the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timer(into: dict, name: str):
    start = time.perf_counter()
    yield
    into[name] = time.perf_counter() - start
    log(f"{name}: {into[name]:.2f} s")


# -- configuration -----------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--measures", type=int, default=300_000)
    parser.add_argument("--observations", type=int, default=30_000_000)
    parser.add_argument("--quick", action="store_true", help="30,000 measures and 3 million observations")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dir", help="Working directory (SQLite file, build record); default under /tmp")
    parser.add_argument("--reuse", action="store_true", help="Keep a database built earlier with these sizes")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"Comma-separated, from {', '.join(PHASES)}")
    parser.add_argument("--eval-runs", type=int, default=2, help="Full evaluations to time (fresh process each)")
    parser.add_argument("--eval-compute-only", action="store_true",
                        help="Also time one full evaluation with store=False (no snapshots written)")
    parser.add_argument("--profile", action="store_true", help="cProfile the phases; record nothing")
    parser.add_argument("--no-record", action="store_true", help="Print only; do not append to the results")
    parser.add_argument("--drop", action="store_true", help="PostgreSQL: drop northstar_bench at the end")
    parser.add_argument("--child", choices=("floor", "evaluate"), help=argparse.SUPPRESS)
    parser.add_argument("--no-store", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.measures, args.observations = 30_000, 3_000_000
    args.people = -(-args.measures // MEASURES_PER_PERSON)
    args.dir = Path(args.dir or f"/tmp/ns-scale-{args.db}-{args.measures}-{args.observations}")
    args.meta = args.dir / "build.json"
    return args


def configure(args) -> None:
    """Environment for settings.py: set before django.setup(), never pointing at anyone else's database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "northstar.settings"
    os.environ["NORTHSTAR_DATA_DIR"] = str(args.dir)
    os.environ["DEBUG"] = "false"  # no query log: production-like timings
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.db == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = f"{PG_SERVER}/{PG_NAME}"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def setup_django(args) -> None:
    configure(args)
    import django

    django.setup()


def sqlite_path(args) -> Path:
    return args.dir / "northstar.sqlite3"


def pg_url() -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{PG_NAME}"


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                    "-qc", sql], check=True)


def fresh_database(args, pg_name: str = PG_NAME) -> None:
    """An empty --dir, and on PostgreSQL the database `pg_name` dropped and created (never any other)."""
    if args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True)
    if args.db == "postgres":
        psql(f"DROP DATABASE IF EXISTS {pg_name}")
        psql(f"CREATE DATABASE {pg_name}")


def database_mb(args) -> float:
    if args.db == "sqlite":
        return sum(p.stat().st_size for p in args.dir.glob("northstar.sqlite3*")) / 1e6
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0] / 1e6


# -- the plan: measures, targets, objectives, key results --------------------------------------


def current_fiscal_year() -> int:
    from northstar.goals.services import fiscal_year_bounds

    today = date.today()
    for year in (today.year, today.year + 1):
        start, end = fiscal_year_bounds(year)
        if start <= today < end:
            return year
    raise RuntimeError("no fiscal year contains today")


def create_plan(args, admin, year_period, rng: np.random.Generator) -> dict:
    """Objectives for the people's units (up the tree) and the people, 3 measures and key results each.

    Rows as the services would write them (Measure, Target, Objective, KeyResult), with bulk_create.
    """
    from northstar.directory.models import OrgUnit, Person, Subject
    from northstar.goals.models import KeyResult, Objective, Perspective
    from northstar.measures.models import Measure, Target

    people = list(Person.objects.order_by("pk").values_list("pk", "org_unit_id"))
    picks = np.linspace(0, len(people) - 1, min(args.people, len(people))).round().astype(int)
    people = [people[i] for i in picks]
    subject_of_person = dict(Subject.objects.filter(kind="person").values_list("person_id", "pk"))
    subject_of_unit = dict(Subject.objects.filter(kind="org_unit").values_list("org_unit_id", "pk"))
    units = {pk: (parent, path, name) for pk, parent, path, name in
             OrgUnit.objects.values_list("pk", "parent_id", "path", "name")}
    perspectives = list(Perspective.objects.order_by("order").values_list("pk", flat=True))
    period = year_period

    # Units on the way up from every person's unit, created parents first.
    needed = set()
    for _pk, unit in people:
        needed.update(int(p) for p in units[unit][1].strip("/").split("/"))
    objective_of_unit: dict[int, int] = {}
    for depth in sorted({units[u][1].count("/") for u in needed}):
        level = sorted(u for u in needed if units[u][1].count("/") == depth)
        rows = [Objective(
            key=f"bench-unit-{u}", title=f"{units[u][2]}: deliver the {period.name} plan",
            subject_id=subject_of_unit[u], period=period, perspective_id=perspectives[u % len(perspectives)],
            parent_id=objective_of_unit.get(units[u][0]), rolls_up=units[u][0] is not None,
            weight=float(1 + u % 2), status_rule="worst" if u % 20 == 0 else "weighted",
        ) for u in level]
        for obj, u in zip(Objective.objects.bulk_create(rows, batch_size=2000), level, strict=True):
            objective_of_unit[u] = obj.pk

    kind_codes = rng.choice(len(KINDS), size=len(people) * MEASURES_PER_PERSON, p=[k[2] for k in KINDS])
    kind_codes = kind_codes[:args.measures]
    measure_pks = np.zeros(len(kind_codes), dtype=np.int64)
    base = np.round(rng.lognormal(3, 1, len(kind_codes)), 2) + 1
    ratio_p = rng.uniform(0.6, 0.99, len(kind_codes))
    weight = rng.lognormal(0, 1, len(kind_codes))  # observation share: skewed
    weight /= weight.sum()
    step = 20_000
    for first in range(0, len(people), step):
        chunk = people[first:first + step]
        objectives = Objective.objects.bulk_create([Objective(
            key=f"bench-person-{pk}", title=f"My {period.name} objectives", subject_id=subject_of_person[pk],
            period=period, perspective_id=perspectives[pk % len(perspectives)], parent_id=objective_of_unit[unit],
            rolls_up=True, owner_id=pk,
        ) for pk, unit in chunk], batch_size=2000)
        positions = [(i, (first + i) * MEASURES_PER_PERSON + j) for i in range(len(chunk))
                     for j in range(MEASURES_PER_PERSON) if (first + i) * MEASURES_PER_PERSON + j < len(kind_codes)]
        measures = Measure.objects.bulk_create([_measure(chunk[i][0], m, int(kind_codes[m]), subject_of_person)
                                                for i, m in positions], batch_size=2000)
        for (_i, m), measure in zip(positions, measures, strict=True):
            measure_pks[m] = measure.pk
        Target.objects.bulk_create([_target(measure, period, int(kind_codes[m]), base[m], ratio_p[m],
                                            weight[m] * args.observations)
                                    for (_i, m), measure in zip(positions, measures, strict=True)], batch_size=2000)
        KeyResult.objects.bulk_create([KeyResult(
            objective=objectives[i], key=f"bench-kr-{m}", title=measure.name, measure=measure,
            weight=float(1 + m % 3), order=m % MEASURES_PER_PERSON,
        ) for (i, m), measure in zip(positions, measures, strict=True)], batch_size=2000)
        log(f"  plan: {first + len(chunk):,} people")
    return {"measure_pks": measure_pks, "kind": kind_codes.astype(np.int8), "base": base, "ratio_p": ratio_p,
            "weight": weight, "people": len(people), "unit_objectives": len(objective_of_unit)}


def _measure(person_pk, m, kind, subject_of_person):
    from northstar.measures.models import Measure

    aggregation, polarity, _share, unit, name = KINDS[kind]
    return Measure(key=f"bench-m{m}", name=f"{name} ({person_pk}.{m % MEASURES_PER_PERSON})", unit=unit,
                   subject_id=subject_of_person[person_pk], polarity=polarity, aggregation=aggregation)


def _target(measure, period, kind, base, p, expected_n):
    """A target the data reaches about half the time, so every status shows up."""
    from northstar.measures.models import Target

    wobble = 0.8 + (measure.pk % 50) / 100  # 0.8 .. 1.29, deterministic
    elapsed = _year_elapsed(period)
    full_n = max(1.0, expected_n / elapsed)
    values = {
        "sum": {"target": round(base * full_n * wobble, 2)},
        "mean": {"target": round(base * wobble, 2)},
        "last": {"target": round(base * wobble, 2), "baseline": round(base * 1.5, 2)},
        "ratio": {"target": round(min(0.99, p * wobble), 3)},
        "max": {"lower": round(base * 0.9, 2), "upper": round(base * 1.2 * wobble, 2)},
        "count": {"target": round(full_n * wobble)},
        "min": {"target": round(base * 0.5 * wobble, 2)},
    }[KINDS[kind][0]]
    return Target(measure=measure, period=period, **values)


def _year_elapsed(period) -> float:
    start, end = (b.timestamp() for b in period.bounds())
    return min(1.0, max(0.01, (time.time() - start) / (end - start)))


# -- observations: generate, load, aggregate ---------------------------------------------------


class Aggregates:
    """Running per-(period, measure) aggregates, as aggregates._group computes them."""

    def __init__(self, periods: list[tuple[int, float, float]], size: int):
        self.periods = periods
        shape = (len(periods), size)
        self.n = np.zeros(shape, dtype=np.int64)
        for name in ("sum", "sum_good", "sum_total", "sum_t", "sum_tt", "sum_ty"):
            setattr(self, name, np.zeros(shape))
        self.min = np.full(shape, np.inf)
        self.max = np.full(shape, -np.inf)
        self.last_id = np.full(shape, -1, dtype=np.int64)
        self.last_ts = np.zeros(shape)
        self.last_value = np.full(shape, np.nan)
        self.seconds = 0.0  # time spent in add(): the numpy group-by part of the aggregate build

    def add(self, ids, idx, ts, values, goods, totals) -> None:
        began = time.perf_counter()
        self._add(ids, idx, ts, values, goods, totals)
        self.seconds += time.perf_counter() - began

    def _add(self, ids, idx, ts, values, goods, totals) -> None:
        size = self.n.shape[1]
        for p, (_pid, start, end) in enumerate(self.periods):
            if ts[-1] < start or ts[0] >= end:
                continue
            inside = (ts >= start) & (ts < end)
            if inside.all():
                m, t, v, g, tot, i = idx, ts - start, values, goods, totals, ids
            else:
                m, t, v, g, tot, i = idx[inside], ts[inside] - start, values[inside], goods[inside], \
                    totals[inside], ids[inside]
            known = ~np.isnan(v)
            y = np.where(known, v, 0.0)
            tk = np.where(known, t, 0.0)
            self.n[p] += np.bincount(m, minlength=size)
            self.sum[p] += np.bincount(m, weights=y, minlength=size)
            self.sum_good[p] += np.bincount(m, weights=np.nan_to_num(g), minlength=size)
            self.sum_total[p] += np.bincount(m, weights=np.nan_to_num(tot), minlength=size)
            self.sum_t[p] += np.bincount(m, weights=tk, minlength=size)
            self.sum_tt[p] += np.bincount(m, weights=tk * tk, minlength=size)
            self.sum_ty[p] += np.bincount(m, weights=tk * y, minlength=size)
            np.minimum.at(self.min[p], m[known], v[known])
            np.maximum.at(self.max[p], m[known], v[known])
            # ts is sorted and ids ascend with it: the last row of a measure is the latest (ties: higher id).
            last = np.full(size, -1, dtype=np.int64)
            np.maximum.at(last, m, np.arange(len(m)))
            touched = last >= 0
            rows = last[touched]
            self.last_id[p][touched] = i[rows]
            self.last_ts[p][touched] = t[rows] + start
            self.last_value[p][touched] = v[rows]

    def rows(self, measure_pks: np.ndarray):
        """(measure_id, period_id, n, sum, min, max, last_ts (epoch), last_id, last_value, sum_good, sum_total,
        sum_t, sum_tt, sum_ty) for every pair with observations; NaN for missing min/max/last_value."""
        for p, (pid, _start, _end) in enumerate(self.periods):
            has = self.n[p] > 0
            if not has.any():
                continue
            low = np.where(np.isinf(self.min[p]), np.nan, self.min[p])
            high = np.where(np.isinf(self.max[p]), np.nan, self.max[p])
            yield pid, [measure_pks[has], self.n[p][has], self.sum[p][has], low[has], high[has],
                        self.last_ts[p][has], self.last_id[p][has], self.last_value[p][has], self.sum_good[p][has],
                        self.sum_total[p][has], self.sum_t[p][has], self.sum_tt[p][has], self.sum_ty[p][has]]


def generate(args, plan: dict, start: float, stop: float, aggregates: Aggregates):
    """Chunks of observations in time order (ids ascending with ts), folded into `aggregates` as they go."""
    rng = np.random.default_rng(args.seed + 1)
    total = args.observations
    ts_all = np.floor(rng.uniform(start, stop, total))
    ts_all.sort()
    kind, base, ratio_p = plan["kind"], plan["base"], plan["ratio_p"]
    cumulative = np.cumsum(plan["weight"])
    cumulative /= cumulative[-1]
    for first in range(0, total, CHUNK):
        ts = ts_all[first:first + CHUNK]
        size = len(ts)
        ids = np.arange(first + 1, first + size + 1, dtype=np.int64)
        idx = np.minimum(np.searchsorted(cumulative, rng.random(size), side="right"), len(cumulative) - 1)
        k = kind[idx]
        noise = rng.standard_normal(size)
        values = np.round(base[idx] * (1 + 0.2 * noise), 2)
        values = np.where(k == KIND["count"], 1.0, values)
        ratio = k == KIND["ratio"]
        totals = rng.integers(1, 200, size).astype(float)
        goods = rng.binomial(totals.astype(np.int64), ratio_p[idx]).astype(float)
        values[ratio] = np.nan
        goods[~ratio] = np.nan
        totals[~ratio] = np.nan
        aggregates.add(ids, idx, ts, values, goods, totals)
        yield ids, plan["measure_pks"][idx], ts, values, goods, totals


class TimeText:
    """Epoch seconds (whole) -> 'YYYY-MM-DD HH:MM:SS' fast, with day and second-of-day tables."""

    def __init__(self, start: float, stop: float, suffix: str = ""):
        self.day0 = int(start // 86400)
        days = int(stop // 86400) - self.day0 + 2
        self.days = [(datetime(1970, 1, 1) + timedelta(days=self.day0 + d)).strftime("%Y-%m-%d ")
                     for d in range(days)]
        self.seconds = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(86400)]

    def __call__(self, ts: np.ndarray) -> list[str]:
        whole = ts.astype(np.int64)
        day = (whole // 86400 - self.day0).tolist()
        second = (whole % 86400).tolist()
        days, seconds = self.days, self.seconds
        return [days[d] + seconds[s] for d, s in zip(day, second, strict=True)]


def _nullable(values: np.ndarray) -> list:
    return np.where(np.isnan(values), None, values).tolist()


def load_sqlite(args, plan, batch_id, start, stop, aggregates, timings) -> None:
    import sqlite3

    from django.db import connection

    connection.close()
    db = sqlite3.connect(sqlite_path(args), isolation_level=None)
    db.execute("PRAGMA journal_mode=MEMORY")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache for the load and the index build
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='measures_observation' "
                         "AND name='observation_measure_ts'").fetchall()
    for name, _sql in indexes:
        db.execute(f'DROP INDEX "{name}"')
    text = TimeText(start, stop)
    insert = ("INSERT INTO measures_observation (id, measure_id, ts, value, good, total, batch_id) "
              f"VALUES (?, ?, ?, ?, ?, ?, {int(batch_id)})")
    started = time.perf_counter()
    for ids, measure_ids, ts, values, goods, totals in generate(args, plan, start, stop, aggregates):
        db.execute("BEGIN")
        db.executemany(insert, zip(ids.tolist(), measure_ids.tolist(), text(ts), _nullable(values),
                                   _nullable(goods), _nullable(totals), strict=True))
        db.execute("COMMIT")
        done = int(ids[-1])
        log(f"  observations: {done:,} ({done / (time.perf_counter() - started):,.0f}/s)")
    timings["observation load"] = time.perf_counter() - started
    with timer(timings, "index build"):
        for _name, sql in indexes:
            db.execute(sql)
    with timer(timings, "aggregate insert"):
        agg_sql = ("INSERT INTO measures_measureaggregate (measure_id, period_id, n, sum, min, max, last_ts, last_id, "
                   "last_value, sum_good, sum_total, sum_t, sum_tt, sum_ty) VALUES "
                   "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for period_id, columns in aggregates.rows(plan["measure_pks"]):
            (m, n, total, low, high, last_ts, last_id, last_value, good, tot, st, stt, sty) = columns
            db.execute("BEGIN")
            db.executemany(agg_sql, zip(m.tolist(), [period_id] * len(m), n.tolist(), total.tolist(),
                                        _nullable(low), _nullable(high), text(last_ts), last_id.tolist(),
                                        _nullable(last_value), good.tolist(), tot.tolist(), st.tolist(),
                                        stt.tolist(), sty.tolist(), strict=True))
            db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def _copy_lines(columns: list[list]) -> bytes:
    out = []
    for row in zip(*columns, strict=True):
        out.append("\t".join("\\N" if v is None else str(v) for v in row))
    out.append("")
    return "\n".join(out).encode()


def load_postgres(args, plan, batch_id, start, stop, aggregates, timings) -> None:
    import psycopg
    from django.db import connection

    connection.close()
    text = TimeText(start, stop, "+00")
    with psycopg.connect(pg_url(), autocommit=True) as pg:
        foreign = pg.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE conrelid = 'measures_observation'::regclass AND contype = 'f'").fetchall()
        index = pg.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'measures_observation' "
                           "AND indexname = 'observation_measure_ts'").fetchall()
        for name, _definition in foreign:
            pg.execute(f'ALTER TABLE measures_observation DROP CONSTRAINT "{name}"')
        for name, _definition in index:
            pg.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        with pg.cursor() as cursor:
            for ids, measure_ids, ts, values, goods, totals in generate(args, plan, start, stop, aggregates):
                with pg.transaction(), cursor.copy(
                        "COPY measures_observation (id, measure_id, ts, value, good, total, batch_id) FROM STDIN"
                ) as copy:
                    copy.write(_copy_lines([ids.tolist(), measure_ids.tolist(), text(ts), _nullable(values),
                                            _nullable(goods), _nullable(totals), [batch_id] * len(ids)]))
                done = int(ids[-1])
                log(f"  observations: {done:,} ({done / (time.perf_counter() - started):,.0f}/s)")
        timings["observation load"] = time.perf_counter() - started
        with timer(timings, "index build"):
            pg.execute("SET maintenance_work_mem = '1GB'")
            for _name, definition in index:
                pg.execute(definition)
            for name, definition in foreign:
                pg.execute(f'ALTER TABLE measures_observation ADD CONSTRAINT "{name}" {definition}')
            pg.execute("SELECT setval(pg_get_serial_sequence('measures_observation', 'id'), "
                       "(SELECT max(id) FROM measures_observation))")
        with timer(timings, "aggregate insert"), pg.cursor() as cursor:
            for period_id, columns in aggregates.rows(plan["measure_pks"]):
                (m, n, total, low, high, last_ts, last_id, last_value, good, tot, st, stt, sty) = columns
                with pg.transaction(), cursor.copy(
                        "COPY measures_measureaggregate (measure_id, period_id, n, sum, min, max, last_ts, last_id, "
                        "last_value, sum_good, sum_total, sum_t, sum_tt, sum_ty) FROM STDIN") as copy:
                    copy.write(_copy_lines([m.tolist(), [period_id] * len(m), n.tolist(), total.tolist(),
                                            _nullable(low), _nullable(high), text(last_ts), last_id.tolist(),
                                            _nullable(last_value), good.tolist(), tot.tolist(), st.tolist(),
                                            stt.tolist(), sty.tolist()]))
        with timer(timings, "vacuum analyze"):
            pg.execute("VACUUM ANALYZE")


def check_aggregates(year, month, sample_size: int, rng) -> dict:
    """The bulk-built aggregates equal the SQL re-count of the raw rows, for a sample of measures."""
    from northstar.measures.aggregates import FIELDS, aggregate_observations
    from northstar.measures.models import MeasureAggregate

    checked = 0
    for period in (year, month):
        ids = list(MeasureAggregate.objects.filter(period=period).values_list("measure_id", flat=True))
        sample = sorted(rng.choice(ids, size=min(sample_size, len(ids)), replace=False).tolist())
        start, end = period.bounds()
        recount = aggregate_observations(sample, start, end, start)
        kept = {row["measure_id"]: row for row in
                MeasureAggregate.objects.filter(period=period, measure_id__in=sample).values("measure_id", *FIELDS)}
        for measure_id in sample:
            a, b = kept[measure_id], recount[measure_id]
            for name in FIELDS:
                x, y = a[name], b[name]
                y = float(y) if isinstance(y, Decimal) else y  # PostgreSQL's EXTRACT(EPOCH ...) sums are numeric
                # SQLite's re-count derives t from julianday(), exact to ~10 µs: its Σt² drifts by ~1e-9.
                tolerance = 1e-8 if name.startswith("sum_t") else 1e-9
                same = (x == y) if not isinstance(x, float) or y is None else \
                    abs(x - y) <= tolerance * max(1.0, abs(x), abs(y))
                if not same:
                    raise AssertionError(f"aggregate {name} of measure {measure_id} in {period.key}: kept {x!r}, "
                                         f"re-counted {y!r}")
            checked += 1
    return {"checked": checked}


def build(args) -> dict:
    timings: dict[str, float] = {}
    log(f"building a fresh {args.db} database in {args.dir}")
    fresh_database(args)
    setup_django(args)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from northstar.audit.services import Action, record_event
    from northstar.goals.services import do_create_fiscal_year
    from northstar.measures.aggregates import period_bounds
    from northstar.measures.models import IngestBatch, Observation

    with timer(timings, "migrate"):
        call_command("migrate", verbosity=0)
    with timer(timings, "demo L"):
        call_command("demo", size="L", verbosity=0)
    admin = get_user_model().objects.get(username="admin")
    year = current_fiscal_year()
    periods = do_create_fiscal_year(year, acting_user=admin)
    rng = np.random.default_rng(args.seed)
    with timer(timings, "plan (measures, targets, objectives, key results)"):
        plan = create_plan(args, admin, periods[0], rng)
    start = periods[0].bounds()[0].timestamp()
    stop = min(periods[0].bounds()[1].timestamp(), time.time() - 3600)
    batch = IngestBatch.objects.create(uid=__import__("uuid").uuid4(), source=IngestBatch.Source.DEMO,
                                       received=datetime.now(UTC), detail="bench/scale.py generated data",
                                       items=args.observations, written=args.observations)
    aggregates = Aggregates(period_bounds(periods), len(plan["measure_pks"]))
    loader = load_sqlite if args.db == "sqlite" else load_postgres
    loader(args, plan, batch.pk, start, stop, aggregates, timings)
    # The numpy group-by runs inside the load loop (timed on its own there), the insert after it.
    timings["aggregate group-by (numpy)"] = aggregates.seconds
    timings["aggregate build"] = aggregates.seconds + timings["aggregate insert"]
    log(f"aggregate build (numpy group-by {aggregates.seconds:.2f} s + insert): {timings['aggregate build']:.2f} s")
    record_event(Action.CREATE, acting_user=None, actor_label="bench/scale.py",
                 object_repr=f"bench data: {len(plan['measure_pks']):,} measures, {args.observations:,} observations",
                 after={"measures": len(plan["measure_pks"]), "observations": args.observations})
    assert Observation.objects.count() == args.observations
    with timer(timings, "aggregate check (sample vs SQL re-count)"):
        month = max((p for p in periods if p.kind == "month" and p.bounds()[1].timestamp() <= stop),
                    key=lambda p: p.start)
        check = check_aggregates(periods[0], month, 200, rng)
    meta = {
        "db": args.db, "measures": len(plan["measure_pks"]), "observations": args.observations,
        "people": plan["people"], "unit_objectives": plan["unit_objectives"], "seed": args.seed,
        "year": periods[0].key, "month": month.key, "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": timings, "db_mb": database_mb(args), "aggregates_checked": check["checked"],
        "measure_pks": [int(plan["measure_pks"][0]), int(plan["measure_pks"][-1])],
    }
    np.save(args.dir / "measures.npy", np.stack([plan["measure_pks"], plan["kind"].astype(np.int64)]))
    args.meta.write_text(json.dumps(meta, indent=1))
    log(f"built: {meta['db_mb']:,.0f} MB")
    return meta


# -- measurements ------------------------------------------------------------------------------


def run_child(args, phase: str, extra: list[str] | None = None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--db", args.db,
               "--measures", str(args.measures), "--observations", str(args.observations), "--dir", str(args.dir)]
    if args.profile:
        command.append("--profile")
    started = time.perf_counter()
    done = subprocess.run(command + (extra or []), capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        errors = [line for line in done.stderr.strip().splitlines() if line and not line.startswith(" ")]
        raise RuntimeError(f"child {phase} failed: {errors[-1] if errors else done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def child(args) -> None:
    setup_django(args)
    meta = json.loads(args.meta.read_text())
    from northstar.goals.models import Period

    year = Period.objects.get(key=meta["year"])
    if args.child == "floor":
        print(json.dumps(child_floor(args, year)))
    else:
        print(json.dumps(child_evaluate(args, year)))


FLOOR_SQL = "SELECT count(*), sum(value), max(ts) FROM measures_observation WHERE ts >= %s AND ts < %s"


def child_floor(args, year) -> dict:
    from django.db import connection

    evicted = False
    if args.db == "sqlite":
        for path in args.dir.glob("northstar.sqlite3*"):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                evicted = True
            finally:
                os.close(fd)
    adapt = connection.ops.adapt_datetimefield_value
    start, end = year.bounds()
    params = [adapt(start), adapt(end)]
    times, row = [], None
    with connection.cursor() as cursor:
        for _ in range(4):
            began = time.perf_counter()
            cursor.execute(FLOOR_SQL, params)
            row = cursor.fetchone()
            times.append(time.perf_counter() - began)
    return {"cold": times[0], "warm": statistics.median(times[1:]), "warm_runs": times[1:], "evicted": evicted,
            "count": row[0], "sum": row[1], "max_ts": str(row[2])}


def child_evaluate(args, year) -> dict:
    from northstar.scoring import engine
    from northstar.scoring.evaluate import evaluate

    base = max_rss_mb()
    profiler = cProfile.Profile() if args.profile else None
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    result = evaluate(period_keys=[year.key], store=not args.no_store)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - began
    peak = max_rss_mb()
    if profiler:
        dump_profile(profiler, f"evaluate-{args.db}", sys.stderr)
    counts = result.counts()
    statuses: dict[str, int] = {}
    for block in result.blocks:
        if block.kind == "measure":
            codes, numbers = np.unique(block.status, return_counts=True)
            statuses = {engine.STATUS_SLUGS[c]: int(k) for c, k in zip(codes, numbers, strict=True)}
    return {"seconds": seconds, "rss_before_mb": base, "rss_peak_mb": peak, "stored": result.stored,
            "nodes": counts, "measure_statuses": statuses}


def dump_profile(profiler: cProfile.Profile, name: str, stream=None) -> None:
    path = f"/tmp/bench-scale-{name}.prof"
    profiler.dump_stats(path)
    stream = stream or sys.stdout
    stats = pstats.Stats(profiler, stream=stream)
    stream.write(f"\n==== profile {name} ({path}) by own time\n")
    stats.sort_stats("tottime").print_stats(25)
    stream.write(f"\n==== profile {name} by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(40)
    stream.flush()


@contextmanager
def profiled(args, name: str):
    if not args.profile:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        dump_profile(profiler, f"{name}-{args.db}")


class Workload:
    """Observations to send: measures picked at random, values like the generated ones."""

    def __init__(self, args):
        stacked = np.load(args.dir / "measures.npy")
        self.pks, self.kind = stacked[0], stacked[1]
        from northstar.measures.models import Measure

        self.keys = dict(Measure.objects.filter(key__startswith="bench-m").values_list("pk", "key"))
        self.rng = np.random.default_rng(args.seed + 7)
        self.serial = int(time.time() * 1000)  # source ids unique across runs

    def pick(self, count: int) -> np.ndarray:
        return self.rng.choice(len(self.pks), size=count, replace=False)

    def items(self, picks: np.ndarray, per_measure: int, as_text: bool = False, lines: bool = False,
              source_ids: bool = False):
        from northstar.measures.ingest import ObservationIn

        now = datetime.now(UTC)
        out = []
        positions = np.repeat(picks, per_measure)
        ages = self.rng.uniform(60, 6 * 3600, len(positions))
        values = np.round(self.rng.lognormal(3, 1, len(positions)), 2)
        totals = self.rng.integers(1, 200, len(positions))
        for n, (position, age, value, total) in enumerate(zip(positions.tolist(), ages.tolist(), values.tolist(),
                                                              totals.tolist(), strict=True)):
            ts = now - timedelta(seconds=age)
            if as_text:
                ts = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            key = self.keys[int(self.pks[position])]
            if self.kind[position] == KIND["ratio"]:
                item = ObservationIn(measure=key, ts=ts, good=float(total * 9 // 10), total=float(total))
            else:
                item = ObservationIn(measure=key, ts=ts, value=value)
            if lines:
                item.line = n + 2
            if source_ids:
                item.source_id = f"bench-{self.serial}"
                self.serial += 1
            out.append(item)
        return out


def no_rescoring():
    """do_ingest's after-commit hook (inline re-score or task enqueue) switched off, to time the write alone."""
    return mock.patch("northstar.measures.ingest._observations_changed", lambda measure_ids: None)


def phase_incremental(args, ctx) -> dict:
    from django.contrib.auth import get_user_model

    from northstar.measures.ingest import do_ingest

    admin = get_user_model().objects.get(username="admin")
    work = Workload(args)
    out = {}
    for label, measures, per, runs in (("100x10", 100, 10, 7), ("1000x1", 1000, 1, 5)):
        try:
            out[label] = _incremental(args, admin, work, label, measures, per, runs)
        except Exception as error:  # noqa: BLE001 - recorded as a finding
            import traceback

            traceback.print_exc()
            out[label] = {"error": f"{type(error).__name__}: {error}"[:300]}
            log(f"incremental {label}: FAILED {out[label]['error']}")
    # As shipped: the after-commit hook re-scores inline when the batch touches <= 200 measures.
    picks = work.pick(100)
    items = work.items(picks, 10)
    began = time.perf_counter()
    do_ingest(items, source="api", acting_user=admin)
    out["100x10_with_inline_rescore_s"] = time.perf_counter() - began
    log(f"do_ingest 100x10 with the shipped inline re-score: {out['100x10_with_inline_rescore_s'] * 1000:.0f} ms")
    return out


def _incremental(args, admin, work, label, measures, per, runs) -> dict:
    from northstar.measures.ingest import do_ingest
    from northstar.scoring.evaluate import evaluate

    picks = work.pick(measures)
    items = work.items(picks, per)
    ids = sorted(int(work.pks[p]) for p in picks)
    with no_rescoring(), profiled(args, f"ingest-1000-{label}"):
        began = time.perf_counter()
        result = do_ingest(items, source="api", acting_user=admin, check_permission=True)
        ingest = time.perf_counter() - began
    assert result.written == len(items), result
    row = {"ingest_s": ingest, "ingest_rate": len(items) / ingest}
    times = []
    with profiled(args, f"incremental-{label}"):
        for _ in range(runs):
            began = time.perf_counter()
            evaluation = evaluate(measure_ids=ids)
            times.append(time.perf_counter() - began)
    kinds = evaluation.counts()
    row.update({"eval_runs_s": times, "eval_median_s": statistics.median(times), "eval_first_s": times[0],
                "nodes": kinds, "stored": evaluation.stored})
    log(f"incremental {label}: do_ingest {ingest * 1000:.0f} ms, evaluate(measure_ids) median "
        f"{statistics.median(times) * 1000:.0f} ms (runs {', '.join(f'{t * 1000:.0f}' for t in times)} ms), "
        f"{sum(kinds.values()):,} nodes")
    return row


def phase_bulk(args, ctx) -> dict:
    from django.contrib.auth import get_user_model

    from northstar.measures.ingest import do_ingest

    admin = get_user_model().objects.get(username="admin")
    work = Workload(args)
    out = {}
    for label, measures, per in (("20000x5", 20_000, 5), ("source_id", 20_000, 5),
                                 ("distinct", min(100_000, len(work.pks)), 1)):
        picks = work.pick(measures)
        items = work.items(picks, per, source_ids=label == "source_id")
        try:
            with profiled(args, f"bulk-{label}"):
                began = time.perf_counter()
                result = do_ingest(items, source="api", acting_user=admin)
                seconds = time.perf_counter() - began
            assert result.written == len(items)
            out[label] = {"seconds": seconds, "rate": len(items) / seconds, "items": len(items), "measures": measures}
            log(f"bulk do_ingest {label}: {len(items):,} in {seconds:.2f} s = {len(items) / seconds:,.0f}/s")
        except Exception as error:  # noqa: BLE001 - recorded as a finding
            out[label] = {"error": f"{type(error).__name__}: {error}"[:300], "items": len(items), "measures": measures}
            log(f"bulk do_ingest {label}: FAILED {out[label]['error']}")
    return out


def phase_csv(args, ctx) -> dict:
    from django.contrib.auth import get_user_model

    from northstar.measures.files import ingest_file, read_observations

    admin = get_user_model().objects.get(username="admin")
    work = Workload(args)
    items = work.items(work.pick(20_000), 5, as_text=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["measure", "ts", "value", "good", "total"])
    for item in items:
        writer.writerow([item.measure, item.ts, "" if item.value is None else item.value,
                         "" if item.good is None else item.good, "" if item.total is None else item.total])
    data = buffer.getvalue().encode()
    began = time.perf_counter()
    read = read_observations("bench.csv", data)
    read_s = time.perf_counter() - began
    assert not read.errors and len(read.items) == len(items)
    with profiled(args, "csv"):
        began = time.perf_counter()
        outcome = ingest_file("bench.csv", data, acting_user=admin, dry_run=False)
        seconds = time.perf_counter() - began
    assert outcome.ok and outcome.written == len(items), outcome.errors[:5]
    log(f"CSV ingest_file: {len(items):,} lines, {len(data) / 1e6:.1f} MB in {seconds:.2f} s = "
        f"{len(items) / seconds:,.0f}/s (reading alone {read_s:.2f} s)")
    return {"seconds": seconds, "rate": len(items) / seconds, "items": len(items), "mb": len(data) / 1e6,
            "read_s": read_s}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def phase_http(args, ctx, requests_count: int = 10, per_request: int = 10_000) -> dict:
    import requests
    from django.contrib.auth import get_user_model
    from django.db import connection

    from northstar.core.services import do_create_api_token

    admin = get_user_model().objects.get(username="admin")
    _row, token = do_create_api_token(name="bench/scale.py", scope="write", days=1, acting_user=admin)
    work = Workload(args)
    bodies = []
    for _ in range(requests_count + 1):
        items = work.items(work.pick(per_request // 5), 5, as_text=True)
        bodies.append(json.dumps({"observations": [
            {"measure": i.measure, "ts": i.ts, **({"good": i.good, "total": i.total} if i.total is not None
                                                   else {"value": i.value})} for i in items]}).encode())
    connection.close()
    port = free_port()
    env = dict(os.environ)
    server_log = open(args.dir / "gunicorn.log", "ab")  # noqa: SIM115 - closed below
    app = ["northstar.wsgi:application"]
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), *app, "-b", f"127.0.0.1:{port}",
         "-w", "1", "--timeout", "900", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=server_log)
    try:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if session.get(f"{base}/health", timeout=5).status_code < 500:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        times = []
        for n, body in enumerate(bodies):
            began = time.perf_counter()
            answer = session.post(f"{base}/api/v1/observations", data=body, timeout=900)
            elapsed = time.perf_counter() - began
            if answer.status_code != 200:
                raise RuntimeError(f"POST answered {answer.status_code}: {answer.text[:300]}")
            assert answer.json()["written"] == per_request, answer.text[:300]
            if n:  # the first request warms the worker up
                times.append(elapsed)
        total = sum(times)
        rate = requests_count * per_request / total
        log(f"HTTP: {requests_count} x {per_request:,} in {total:.2f} s = {rate:,.0f}/s "
            f"(per request median {statistics.median(times):.2f} s)")
        return {"rate": requests_count * per_request / total, "runs_s": times, "median_s": statistics.median(times),
                "per_request": per_request, "requests": requests_count, "body_mb": len(bodies[0]) / 1e6}
    finally:
        server.terminate()
        server.wait(timeout=60)
        server_log.close()


def phase_rebuild(args, ctx) -> dict:
    from northstar.goals.models import Period
    from northstar.measures.aggregates import FIELDS, rebuild_period
    from northstar.measures.models import MeasureAggregate

    meta = ctx["meta"]
    month = Period.objects.get(key=meta["month"])
    before = {r["measure_id"]: r for r in MeasureAggregate.objects.filter(period=month).values("measure_id", *FIELDS)}
    try:
        with profiled(args, "rebuild"):
            began = time.perf_counter()
            rows = rebuild_period(month)
            seconds = time.perf_counter() - began
    except Exception as error:  # noqa: BLE001 - recorded as a finding
        log(f"rebuild_period({month.key}): FAILED {type(error).__name__}: {error}"[:400])
        return {"error": f"{type(error).__name__}: {error}"[:300], "month": month.key, "rows_before": len(before)}
    after = {r["measure_id"]: r for r in MeasureAggregate.objects.filter(period=month).values("measure_id", *FIELDS)}
    differ = sum(1 for m, row in before.items() if after.get(m, {}).get("n") != row["n"]
                 or after[m]["last_id"] != row["last_id"])
    log(f"rebuild_period({month.key}): {rows:,} aggregates in {seconds:.2f} s; rows differing from the bulk "
        f"build: {differ}")
    return {"seconds": seconds, "rows": rows, "month": month.key, "differ": differ}


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    load_before = os.getloadavg()
    meta = None
    if args.reuse and args.meta.exists():
        meta = json.loads(args.meta.read_text())
        if (meta["measures"], meta["observations"]) != (args.measures, args.observations):
            meta = None
    if meta is None:
        meta = build(args)
        reused = False
    else:
        log(f"reusing the database built {meta['built']} in {args.dir}")
        setup_django(args)
        reused = True
    ctx = {"meta": meta}
    results: dict = {}
    for phase in phases:
        log(f"--- {phase}")
        try:
            if phase == "floor":
                results["floor"] = run_child(args, "floor")
                log(f"floor: cold {results['floor']['cold']:.2f} s, warm {results['floor']['warm']:.2f} s "
                    f"({results['floor']['count']:,} rows)")
            elif phase == "evaluate":
                runs = []
                for _ in range(1 if args.profile else args.eval_runs):
                    run = run_child(args, "evaluate")
                    runs.append(run)
                    log(f"full evaluation: {run['seconds']:.2f} s, max RSS {run['rss_peak_mb']:,.0f} MB (before "
                        f"{run['rss_before_mb']:,.0f} MB), {run['stored']:,} snapshots, {run['nodes']}")
                results["evaluate"] = runs
                if args.eval_compute_only:
                    run = run_child(args, "evaluate", ["--no-store"])
                    results["evaluate_compute"] = run
                    log(f"full evaluation without storing snapshots: {run['seconds']:.2f} s, max RSS "
                        f"{run['rss_peak_mb']:,.0f} MB")
            elif phase == "incremental":
                results["incremental"] = phase_incremental(args, ctx)
            elif phase == "bulk":
                results["bulk"] = phase_bulk(args, ctx)
            elif phase == "csv":
                results["csv"] = phase_csv(args, ctx)
            elif phase == "http":
                results["http"] = phase_http(args, ctx)
            elif phase == "rebuild":
                results["rebuild"] = phase_rebuild(args, ctx)
        except Exception as error:  # noqa: BLE001 - a failed phase is a result too
            import traceback

            traceback.print_exc()
            results[phase] = {"error": f"{type(error).__name__}: {error}"[:300]}
    results["load_average"] = [load_before, os.getloadavg()]
    results["total_s"] = time.perf_counter() - started
    (args.dir / f"results-{int(time.time())}.json").write_text(json.dumps({"meta": meta, "results": results},
                                                                           indent=1, default=str))
    summary = report(args, meta, results, reused)
    print(summary)
    if phases and not args.no_record and not args.profile:
        record(summary)
    if args.drop and args.db == "postgres":
        from django.db import connections

        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {PG_NAME}")


def code_version() -> str:
    """The commit measured, and whether northstar/ had uncommitted changes (read-only git commands)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "northstar"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {commit}" + (" with uncommitted changes in northstar/" if dirty else "")


def _verdict(ok) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def report(args, meta, results, reused) -> str:
    from django.db import connection

    if args.db == "sqlite":
        import sqlite3

        engine = f"SQLite {sqlite3.sqlite_version}"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            engine = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    size = "quick" if args.quick else ("full" if (args.measures, args.observations) == (300_000, 30_000_000)
                                        else "reduced")
    cpu = platform.processor() or platform.machine()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"\n## {date.today().isoformat()} · {engine} · {meta['measures']:,} measures · "
        f"{meta['observations']:,} observations ({size})\n",
        f"Machine: {cpu}, {os.cpu_count()} CPU, {memory:.0f} GB RAM, {platform.system()}; Python "
        f"{platform.python_version()}; shared with other work (load average {results['load_average'][0][0]:.1f} "
        f"at start, {results['load_average'][1][0]:.1f} at end). Database {meta['db_mb']:,.0f} MB"
        f"{' (reused build of ' + meta['built'] + ')' if reused else ''}. "
        f"{meta['people']:,} people with 3 measures and key results each, "
        f"{meta['unit_objectives']:,} unit objectives; year {meta['year']}.\n",
        f"Code: {code_version()}. Command: `nice -n 10 .venv/bin/python bench/scale.py {' '.join(sys.argv[1:])}`"
        f"{' (measuring a database built by an earlier run with the same sizes)' if reused else ''}\n",
        "| figure | result | target | verdict |",
        "| --- | ---: | ---: | --- |",
    ]
    floor = results.get("floor", {})
    warm = floor.get("warm")
    if warm is not None:
        cold_note = "" if floor.get("evicted") else " (not evicted: first run)"
        lines.append(f"| floor: `count(*), sum(value), max(ts)` over the year, cold{cold_note} / warm "
                     f"| {floor['cold']:.2f} s / {warm:.2f} s | — | — |")
    elif "floor" in results:
        lines.append(f"| floor | {results['floor'].get('error')} | — | — |")
    runs = results.get("evaluate")
    if isinstance(runs, list) and runs:
        last = runs[-1]
        best = min(r["seconds"] for r in runs)
        ratio = best / warm if warm else None
        peak = max(r["rss_peak_mb"] for r in runs)
        growth = max(r["rss_peak_mb"] - r["rss_before_mb"] for r in runs)
        names = " / ".join(["first", "repeat", "repeat"][:len(runs)])
        seconds = " / ".join(f"{r['seconds']:.1f} s" for r in runs)
        lines.append(f"| full evaluation `evaluate(period_keys=[year])`, {names} | {seconds} "
                     f"| ≤ floor | {_verdict(ratio is not None and ratio <= TARGET_RATIO)} |")
        if ratio is not None:
            lines.append(f"| ratio full evaluation / warm floor | {ratio:,.1f} | ≤ {TARGET_RATIO} "
                         f"| {_verdict(ratio <= TARGET_RATIO)} |")
        lines.append(f"| peak memory of the evaluating process (max RSS; growth during evaluate) "
                     f"| {peak:,.0f} MB (+{growth:,.0f}) | < {TARGET_PEAK_MB:,} MB "
                     f"| {_verdict(peak < TARGET_PEAK_MB)} |")
        lines.append(f"| nodes scored / snapshots stored | {sum(last['nodes'].values()):,} / {last['stored']:,} "
                     f"| — | — |")
        compute = results.get("evaluate_compute")
        if compute:
            ratio_text = f"ratio {compute['seconds'] / warm:,.1f}; " if warm else ""
            lines.append(f"| full evaluation without storing snapshots (`store=False`) | {compute['seconds']:.1f} s "
                         f"({ratio_text}{compute['rss_peak_mb']:,.0f} MB) | — | — |")
    elif "evaluate" in results:
        lines.append(f"| full evaluation | {results['evaluate'].get('error')} | ≤ floor | **not met** |")
    inc = results.get("incremental", {})
    for label, text in (("100x10", "1,000 observations on 100 measures"),
                        ("1000x1", "1,000 observations on 1,000 measures")):
        row = inc.get(label)
        if row and "error" in row:
            lines.append(f"| incremental after {text} | fails: {row['error']} | < {TARGET_INCREMENTAL_MS} ms "
                         f"| **not met** |")
        elif row:
            lines.append(f"| incremental `evaluate(measure_ids=…)` after {text}, median of "
                         f"{len(row['eval_runs_s'])} (first) | {row['eval_median_s'] * 1000:,.0f} ms "
                         f"({row['eval_first_s'] * 1000:,.0f} ms) | < {TARGET_INCREMENTAL_MS} ms "
                         f"| {_verdict(row['eval_median_s'] * 1000 < TARGET_INCREMENTAL_MS)} |")
            lines.append(f"| small batch: `do_ingest` of {text} (hook off) | {row['ingest_s'] * 1000:,.0f} ms = "
                         f"{row['ingest_rate']:,.0f}/s | — | — |")
    if "100x10_with_inline_rescore_s" in inc:
        lines.append(f"| `do_ingest` of 1,000 on 100 measures as shipped (inline re-score after commit) "
                     f"| {inc['100x10_with_inline_rescore_s'] * 1000:,.0f} ms | — | — |")
    if "error" in inc:
        lines.append(f"| incremental | {inc['error']} | < {TARGET_INCREMENTAL_MS} ms | **not met** |")
    bulk = results.get("bulk", {})
    for label in ("20000x5", "source_id", "distinct"):
        row = bulk.get(label)
        text = row and (f"{row['items']:,} observations on {row['measures']:,} measures"
                        f"{', each with a source_id' if label == 'source_id' else ''}")
        if row and "rate" in row:
            lines.append(f"| bulk `do_ingest`, {text}, one call | {row['rate']:,.0f}/s ({row['seconds']:.1f} s) "
                         f"| ≥ {TARGET_BULK_RATE:,}/s | {_verdict(row['rate'] >= TARGET_BULK_RATE)} |")
        elif row:
            lines.append(f"| bulk `do_ingest`, {text}, one call | fails: {row['error']} "
                         f"| ≥ {TARGET_BULK_RATE:,}/s | **not met** |")
    if "error" in bulk:
        lines.append(f"| bulk | {bulk['error']} | ≥ {TARGET_BULK_RATE:,}/s | **not met** |")
    row = results.get("csv")
    if row and "rate" in row:
        lines.append(f"| CSV `ingest_file`, 100,000 lines ({row['mb']:.1f} MB; reading {row['read_s']:.1f} s) "
                     f"| {row['rate']:,.0f}/s ({row['seconds']:.1f} s) | ≥ {TARGET_BULK_RATE:,}/s "
                     f"| {_verdict(row['rate'] >= TARGET_BULK_RATE)} |")
    elif row:
        lines.append(f"| CSV | {row['error']} | ≥ {TARGET_BULK_RATE:,}/s | **not met** |")
    row = results.get("http")
    if row and "rate" in row:
        lines.append(f"| HTTP `POST /api/v1/observations`, {row['requests']} × {row['per_request']:,} "
                     f"({row['body_mb']:.1f} MB each; gunicorn, 1 worker) | {row['rate']:,.0f}/s "
                     f"(median {row['median_s']:.2f} s per request) | ≥ {TARGET_HTTP_RATE:,}/s "
                     f"| {_verdict(row['rate'] >= TARGET_HTTP_RATE)} |")
    elif row:
        lines.append(f"| HTTP | {row['error']} | ≥ {TARGET_HTTP_RATE:,}/s | **not met** |")
    row = results.get("rebuild")
    if row and "seconds" in row:
        lines.append(f"| `rebuild_period({row['month']})` (SQL re-count of a month) | {row['seconds']:.1f} s "
                     f"({row['rows']:,} rows; {row['differ']} differ from the bulk build) | — | — |")
    elif row:
        lines.append(f"| `rebuild_period` of a month | fails: {row['error']} | — | — |")
    timings = meta["timings"]
    lines.append("\nBuild: " + ", ".join(f"{name} {seconds:,.1f} s" for name, seconds in timings.items()) + ".")
    return "\n".join(lines) + "\n"


HEADER = """# Scale benchmark: evaluation and ingestion

`bench/scale.py` (see its docstring): the L demo organisation (100,000 people) with
3 measures per person (300,000 measures, each with a year target and backing a key
result; person objectives roll up through their units' objectives to the company's) and
30 million generated observations over the current fiscal year; running aggregates
(MeasureAggregate) built in bulk. Each run measures, on SQLite or PostgreSQL:

- *floor*: one sequential pass over the year's observations,
  `SELECT count(*), sum(value), max(ts) FROM measures_observation WHERE ts in the year`;
  cold (SQLite: the file's pages evicted from the page cache) and warm;
- *full evaluation*: `evaluate(period_keys=[year])` in a fresh process: wall time and that
  process's max RSS (first run, then a repeat that replaces the day's snapshots);
- *incremental*: `do_ingest` of 1,000 observations, then `evaluate(measure_ids=…)` for
  the measures they touch;
- *ingestion*: `do_ingest` of 100,000 observations in one call, `ingest_file` of a
  100,000-line CSV, and `POST /api/v1/observations` with 10,000 observations per request
  to gunicorn on 127.0.0.1.

Targets (from the issue): full evaluation no slower than the floor (ratio ≤ 1.0) with
peak memory under 2 GB; incremental under 100 ms; bulk ingestion ≥ 100,000
observations/s; HTTP batch ingestion ≥ 20,000/s. Wall-clock times on a machine shared
with other work.
"""


def record(summary: str) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as results:
        results.write(summary)
    print(f"recorded in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
