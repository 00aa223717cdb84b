"""Prototypes of the fixes still proposed in bench/results/scale.md, applied in-process for measurement only.

    .venv/bin/python bench/scale.py --db sqlite --reuse --with-proposed-fixes

Not product code and never imported by it: each function below is the smallest change to
the named function of northstar/ that removes a cost found with cProfile, written against
commit 22b47ae (which already took the first round: bounded IN lists, the sibling lookup
without a giant OR, plain-row snapshot reads and writes, perspective links in a set, plain-row
observation writes). `apply()` swaps them in; as a WSGI module (`gunicorn --pythonpath bench
proposed_fixes:application`) it applies them in the server too.

A. settings.py (SQLite): Django's default page cache is 2 MB per connection, so every row
   inserted into the (measure, ts) index of a 30-million-row table reads a page;
   `PRAGMA cache_size=-262144` (256 MB) in the init_command.
B. measures/ingest.py `_write_rows`: insert in (measure, ts) order, so consecutive
   rows land on the same index pages (stable sort: ties keep their arrival order, so ids
   still rise in arrival order and "last" is unchanged).
C. measures/aggregates.py `_upsert` (PostgreSQL): executemany sends one INSERT ... ON CONFLICT
   per (measure, period), 60,000 statements for a 100,000-observation batch over 20,000
   measures; one statement per chunk, the rows passed as arrays through unnest().
D. measures/ingest.py `_already_stored`: one query per measure that has source ids (20,000
   round trips for such a batch); one query per 500 (measure, source_id) pairs, joined on the
   partial unique index.
E. scoring/evaluate.py `_store`, incremental runs: the delete is keyed on (node_kind, node_id)
   only, and a perspective's node_id is the perspective's, shared by every subject: one
   re-scored perspective deletes that day's perspective snapshot of every subject (a
   correctness bug: 20,975 -> 19 rows after re-scoring 3 measures in the quick database).
   Upsert on the unique key (node_kind, node_id, subject, period, day) instead: no deletes.
I. measures/ingest.py `do_ingest`: WRITE_CHUNK = 5,000 folds each chunk into the aggregates
   separately, so a 100,000-observation batch over 20,000 measures upserts about 264,000
   aggregate rows (20 chunks x ~4,400 measures x 3 periods) instead of 60,000; fold the whole
   batch once (prototyped as WRITE_CHUNK = 200,000).
F. scoring/evaluate.py `evaluate`: key results are read as model instances with
   select_related("objective"): 300,000 KeyResult and 300,000 Objective instances (uid, created,
   updated parsed for each), 24 s of a 131 s profiled run and about 500 MB; plain rows
   (values_list) with the objective's period and subject taken from the objectives already
   loaded. (Prototyped by handing evaluate() a KeyResult stand-in that returns such rows.)
G. scoring/evaluate.py `_store`, PostgreSQL: executemany sends one INSERT per snapshot (936,000
   statements, 47 s of the profiled run); COPY.
H. scoring/evaluate.py `_score_measures`: on a full run, 334 pairs of queries with 900-id IN
   lists and a dict per row; one query for the measures and one for the targets of the periods,
   as plain rows.
"""

import os
import sys
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE_CACHE = "PRAGMA cache_size=-262144"  # KiB: 256 MB


# -- A. SQLite page cache ----------------------------------------------------------------------


def _set_cache(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(SQLITE_CACHE)


def _bigger_sqlite_cache() -> None:
    """As if settings.py's init_command had it: every new connection, and the open one."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    connection_created.connect(_set_cache)
    if connection.connection is not None and connection.vendor == "sqlite":
        _set_cache(None, connection)


# -- B. rows in index order ----------------------------------------------------------------------


def _sorted_write_rows(shipped):
    def _write_rows(chunk, batch_id):
        return shipped(sorted(chunk, key=lambda pair: (pair[1][0].pk, pair[1][1])), batch_id)

    return _write_rows


# -- C. aggregates upsert through unnest() on PostgreSQL ---------------------------------------


def _unnest_upsert(shipped):
    def _upsert(rows):
        from django.db import connection

        from northstar.measures.aggregates import FIELDS
        from northstar.measures.models import MeasureAggregate

        if not rows or connection.vendor != "postgresql":
            return shipped(rows)
        q = connection.ops.quote_name
        table = q(MeasureAggregate._meta.db_table)
        columns = ["measure_id", "period_id", *FIELDS]
        types = {"measure_id": "bigint", "period_id": "bigint", "n": "bigint", "last_ts": "timestamptz",
                 "last_id": "bigint"}
        old = {name: f"{table}.{q(name)}" for name in FIELDS}
        new = {name: f"excluded.{q(name)}" for name in FIELDS}
        later = (f"({old['last_ts']} IS NULL OR {new['last_ts']} > {old['last_ts']} OR "
                 f"({new['last_ts']} = {old['last_ts']} AND {new['last_id']} > {old['last_id']}))")
        assignments = {
            **{name: f"{old[name]} + {new[name]}" for name in
               ("n", "sum", "sum_good", "sum_total", "sum_t", "sum_tt", "sum_ty")},
            "min": f"CASE WHEN {old['min']} IS NULL OR {new['min']} < {old['min']} THEN {new['min']} "
                   f"ELSE {old['min']} END",
            "max": f"CASE WHEN {old['max']} IS NULL OR {new['max']} > {old['max']} THEN {new['max']} "
                   f"ELSE {old['max']} END",
            **{name: f"CASE WHEN {later} THEN {new[name]} ELSE {old[name]} END"
               for name in ("last_ts", "last_id", "last_value")},
        }
        sql = (
            f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) SELECT * FROM unnest("
            + ", ".join(f"%s::{types.get(c, 'double precision')}[]" for c in columns) + ") "
            f"ON CONFLICT ({q('measure_id')}, {q('period_id')}) DO UPDATE SET "
            + ", ".join(f"{q(name)} = {expression}" for name, expression in assignments.items())
        )
        with connection.cursor() as cursor:
            for start in range(0, len(rows), 20_000):
                chunk = rows[start:start + 20_000]
                cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])

    return _upsert


# -- D. duplicates in one query per 500 pairs ----------------------------------------------------


def _already_stored(pairs):
    from django.db import connection

    from northstar.measures.models import Observation

    table = connection.ops.quote_name(Observation._meta.db_table)
    found = set()
    pairs = iter(sorted(pairs))
    while chunk := list(islice(pairs, 500)):
        if connection.vendor == "postgresql":
            sql = (f"SELECT o.measure_id, o.source_id FROM unnest(%s::bigint[], %s::text[]) AS v(m, s) "
                   f"JOIN {table} o ON o.measure_id = v.m AND o.source_id = v.s")
            params = [[m for m, _s in chunk], [s for _m, s in chunk]]
        else:
            values = ", ".join(["(%s, %s)"] * len(chunk))
            sql = (f"SELECT o.measure_id, o.source_id FROM (VALUES {values}) AS v "
                   f"JOIN {table} o ON o.measure_id = v.column1 AND o.source_id = v.column2 "
                   f"WHERE o.source_id IS NOT NULL")
            params = [value for pair in chunk for value in pair]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found.update(cursor.fetchall())
    return found


# -- E. incremental snapshots: upsert on the unique key ----------------------------------------


def _upserting_store(shipped):
    def _store(results, t, *, replace_all, periods):
        from django.db import connection, transaction
        from django.utils import timezone

        from northstar.scoring.evaluate import SNAPSHOT_FIELDS
        from northstar.scoring.models import ScoreSnapshot

        if replace_all:
            return shipped(results, t, replace_all=replace_all, periods=periods)
        ops = connection.ops
        day_value, as_of = ops.adapt_datefield_value(timezone.localdate(t)), ops.adapt_datetimefield_value(t)
        rows = [(r.kind, r.node_id, r.subject_id, r.period_id, day_value, as_of,
                 *(getattr(r, name) for name in SNAPSHOT_FIELDS)) for r in results]
        q = ops.quote_name
        key = ("node_kind", "node_id", "subject_id", "period_id", "day")
        columns = (*key, "as_of", *SNAPSHOT_FIELDS)
        sql = (f"INSERT INTO {q(ScoreSnapshot._meta.db_table)} ({', '.join(q(c) for c in columns)}) "
               f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT ({', '.join(q(c) for c in key)}) "
               f"DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in ("as_of", *SNAPSHOT_FIELDS)))
        if connection.vendor == "postgresql":  # one statement, not one per row (psycopg's executemany)
            types = ["text", "bigint", "bigint", "bigint", "date", "timestamptz", "double precision",
                     "double precision", "double precision", "double precision", "text", "double precision",
                     "double precision", "text", "double precision"]
            sql = sql.replace(f"VALUES ({', '.join(['%s'] * len(columns))})", "SELECT * FROM unnest("
                              + ", ".join(f"%s::{kind}[]" for kind in types) + ")")
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
            return len(rows)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        return len(rows)

    return _store


# -- F. key results as plain rows --------------------------------------------------------------


class _ObjectiveRef:
    __slots__ = ("period_id", "subject_id")

    def __init__(self, period_id, subject_id):
        self.period_id, self.subject_id = period_id, subject_id


class _KeyResultRow:
    __slots__ = ("pk", "key", "title", "objective_id", "measure_id", "weight", "objective")

    def __init__(self, pk, key, title, objective_id, measure_id, weight, objective):
        self.pk, self.key, self.title, self.objective_id = pk, key, title, objective_id
        self.measure_id, self.weight, self.objective = measure_id, weight, objective


class _KeyResultQuery:
    def __init__(self, queryset):
        self.queryset = queryset

    def select_related(self, *names):
        """What evaluate() asks for: the key results with their objective's period and subject."""
        rows = self.queryset.values_list("pk", "key", "title", "objective_id", "measure_id", "weight",
                                         "objective__period_id", "objective__subject_id")
        refs = {}
        out = []
        for pk, key, title, objective_id, measure_id, weight, period_id, subject_id in rows:
            ref = refs.get(objective_id)
            if ref is None:
                ref = refs[objective_id] = _ObjectiveRef(period_id, subject_id)
            out.append(_KeyResultRow(pk, key, title, objective_id, measure_id, weight, ref))
        return out

    def __getattr__(self, name):  # values_list() and the rest: the real queryset
        return getattr(self.queryset, name)


class _KeyResultManager:
    def filter(self, *args, **kwargs):
        from northstar.goals.models import KeyResult

        return _KeyResultQuery(KeyResult.objects.filter(*args, **kwargs))


class _KeyResultStandIn:
    objects = _KeyResultManager()


# -- G. snapshots through COPY on PostgreSQL -----------------------------------------------------


def _copying_store(shipped):
    def _store(results, t, *, replace_all, periods):
        from django.db import connection, transaction
        from django.utils import timezone

        from northstar.scoring.evaluate import SNAPSHOT_FIELDS
        from northstar.scoring.models import ScoreSnapshot

        if not replace_all or connection.vendor != "postgresql":
            return shipped(results, t, replace_all=replace_all, periods=periods)
        day = timezone.localdate(t)
        q = connection.ops.quote_name
        columns = ("node_kind", "node_id", "subject_id", "period_id", "day", "as_of", *SNAPSHOT_FIELDS)
        with transaction.atomic():
            ScoreSnapshot.objects.filter(day=day, period__in=periods).delete()
            with connection.cursor() as cursor, cursor.cursor.copy(
                    f"COPY {q(ScoreSnapshot._meta.db_table)} ({', '.join(q(c) for c in columns)}) FROM STDIN") as copy:
                for r in results:
                    copy.write_row((r.kind, r.node_id, r.subject_id, r.period_id, day, t,
                                    *(getattr(r, name) for name in SNAPSHOT_FIELDS)))
        return len(results)

    return _store


# -- H. measures and targets of a full run in two queries ---------------------------------------


def _score_measures_full(shipped):
    def _score_measures(rows, periods, t):
        import numpy as np

        from northstar.measures.models import Measure, Target
        from northstar.scoring import engine
        from northstar.scoring.evaluate import TARGET_FIELDS, _load_aggregates

        wanted = {int(i) for i in rows.measure_ids}
        if len(wanted) < 50_000:
            return shipped(rows, periods, t)
        names = ("id", "key", "name", "subject_id", "aggregation", "polarity", "tracking")
        measures = {row[0]: dict(zip(names, row, strict=True))
                    for row in Measure.objects.values_list(*names) if row[0] in wanted}
        targets = {(row[0], row[1]): row[2:] for row in
                   Target.objects.filter(period_id__in=list(periods)).values_list("measure_id", "period_id",
                                                                                  *TARGET_FIELDS)}
        size = len(rows.index)
        columns = {name: np.full(size, np.nan) for name in TARGET_FIELDS}
        columns["cap"][:] = engine.DEFAULT_CAP
        columns["on_track"][:] = engine.DEFAULT_ON_TRACK
        columns["at_risk"][:] = engine.DEFAULT_AT_RISK
        aggregation, polarity, tracking = [], [], []
        starts, ends = np.empty(size), np.empty(size)
        bounds = {p.pk: [moment.timestamp() for moment in p.bounds()] for p in periods.values()}
        target_columns = [columns[name] for name in TARGET_FIELDS]
        for (measure_id, period_id), i in rows.index.items():
            measure = measures[measure_id]
            aggregation.append(measure["aggregation"])
            polarity.append(measure["polarity"])
            tracking.append(measure["tracking"] or None)
            starts[i], ends[i] = bounds[period_id]
            target = targets.get((measure_id, period_id))
            if target:
                for column, value in zip(target_columns, target, strict=True):
                    if value is not None:
                        column[i] = value
        tracking_codes = [-1 if value is None else engine.Tracking[value.upper()] for value in tracking]
        scores = engine.evaluate_measures(
            _load_aggregates(rows, periods, t), aggregation=aggregation, polarity=polarity, start=starts, end=ends,
            t=t.timestamp(), tracking=tracking_codes, **columns,
        ) if size else None
        return measures, scores

    return _score_measures


# -- applying them -------------------------------------------------------------------------------

_applied = False


def apply(level: str = "all") -> None:
    global _applied
    from northstar.measures import aggregates, ingest
    from northstar.scoring import evaluate

    if _applied:
        return
    _applied = True
    _bigger_sqlite_cache()
    ingest._write_rows = _sorted_write_rows(ingest._write_rows)
    aggregates._upsert = _unnest_upsert(aggregates._upsert)
    ingest._already_stored = _already_stored
    ingest.WRITE_CHUNK = 200_000
    evaluate._store = _copying_store(_upserting_store(evaluate._store))
    evaluate.KeyResult = _KeyResultStandIn
    evaluate._score_measures = _score_measures_full(evaluate._score_measures)


def _wsgi():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "northstar.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from northstar.wsgi import application as wsgi_application

    apply()
    return wsgi_application


_application = None


def application(environ, start_response):
    global _application
    if _application is None:
        _application = _wsgi()
    return _application(environ, start_response)
