"""Per-measure, per-period running aggregates (MeasureAggregate).

`add_observations` folds newly written observations into every period that
contains them, with one upsert per (measure, period); `aggregate_observations`
computes the same figures from raw rows in SQL, for rebuilding a period and for
evaluating "as of" a past instant. Least-squares sums use t = seconds since the
period start.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from django.db import connection

from northstar.goals.models import Period
from northstar.measures.models import MeasureAggregate, Observation

FIELDS = ("n", "sum", "min", "max", "last_ts", "last_id", "last_value", "sum_good", "sum_total", "sum_t", "sum_tt",
          "sum_ty")


@dataclass
class NewObservations:
    """Columns of observations just written (ids known), ready to fold into aggregates."""

    ids: np.ndarray  # int64
    measure_ids: np.ndarray  # int64
    ts: np.ndarray  # float64 epoch seconds
    values: np.ndarray  # float64, NaN for ratio observations
    goods: np.ndarray  # float64, 0 where not a ratio
    totals: np.ndarray  # float64, 0 where not a ratio


def period_bounds(periods) -> list[tuple[int, float, float]]:
    return [(p.pk, *(moment.timestamp() for moment in p.bounds())) for p in periods]


def add_observations(new: NewObservations, periods=None) -> int:
    """Fold observations into the aggregates of every period containing them. Returns upserted rows."""
    if len(new.ids) == 0:
        return 0
    rows = []
    for period_id, start, end in period_bounds(periods if periods is not None else Period.objects.all()):
        inside = (new.ts >= start) & (new.ts < end)
        if inside.any():
            rows.extend(_group(period_id, start, new, inside))
    _upsert(rows)
    return len(rows)


def _group(period_id: int, start: float, new: NewObservations, inside: np.ndarray) -> list[tuple]:
    measure_ids = new.measure_ids[inside]
    ids, ts, values = new.ids[inside], new.ts[inside], new.values[inside]
    goods, totals = new.goods[inside], new.totals[inside]
    groups, index = np.unique(measure_ids, return_inverse=True)
    size = len(groups)
    t = ts - start
    known = ~np.isnan(values)
    y = np.where(known, values, 0.0)
    tk = np.where(known, t, 0.0)
    n = np.bincount(index, minlength=size)
    n_known = np.bincount(index, weights=known, minlength=size)
    sums = {
        "sum": np.bincount(index, weights=y, minlength=size),
        "sum_good": np.bincount(index, weights=goods, minlength=size),
        "sum_total": np.bincount(index, weights=totals, minlength=size),
        "sum_t": np.bincount(index, weights=tk, minlength=size),
        "sum_tt": np.bincount(index, weights=tk * tk, minlength=size),
        "sum_ty": np.bincount(index, weights=tk * y, minlength=size),
    }
    mins = np.full(size, np.inf)
    maxs = np.full(size, -np.inf)
    np.minimum.at(mins, index, np.where(known, values, np.inf))
    np.maximum.at(maxs, index, np.where(known, values, -np.inf))
    # The last observation of each group: greatest ts, ties broken by the later id.
    order = np.lexsort((ids, ts, index))
    last_positions = order[np.r_[np.flatnonzero(np.diff(index[order])), len(order) - 1]]
    rows = []
    for g in range(size):
        last = last_positions[g]
        has_values = n_known[g] > 0
        rows.append((
            int(groups[g]), period_id, int(n[g]), float(sums["sum"][g]),
            float(mins[g]) if has_values else None, float(maxs[g]) if has_values else None,
            datetime.fromtimestamp(float(ts[last]), tz=UTC), int(ids[last]),
            None if np.isnan(values[last]) else float(values[last]),
            float(sums["sum_good"][g]), float(sums["sum_total"][g]), float(sums["sum_t"][g]),
            float(sums["sum_tt"][g]), float(sums["sum_ty"][g]),
        ))
    return rows


def _upsert(rows: list[tuple]) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(MeasureAggregate._meta.db_table)
    q = connection.ops.quote_name
    columns = ["measure_id", "period_id", *FIELDS]
    old = {name: f"{table}.{q(name)}" for name in FIELDS}
    new = {name: f"excluded.{q(name)}" for name in FIELDS}
    later = (f"({old['last_ts']} IS NULL OR {new['last_ts']} > {old['last_ts']} OR "
             f"({new['last_ts']} = {old['last_ts']} AND {new['last_id']} > {old['last_id']}))")
    assignments = {
        **{name: f"{old[name]} + {new[name]}" for name in
           ("n", "sum", "sum_good", "sum_total", "sum_t", "sum_tt", "sum_ty")},
        "min": f"CASE WHEN {old['min']} IS NULL OR {new['min']} < {old['min']} THEN {new['min']} ELSE {old['min']} END",
        "max": f"CASE WHEN {old['max']} IS NULL OR {new['max']} > {old['max']} THEN {new['max']} ELSE {old['max']} END",
        **{name: f"CASE WHEN {later} THEN {new[name]} ELSE {old[name]} END"
           for name in ("last_ts", "last_id", "last_value")},
    }
    sql = (
        f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({q('measure_id')}, {q('period_id')}) DO UPDATE SET "
        + ", ".join(f"{q(name)} = {expression}" for name, expression in assignments.items())
    )
    adapt = connection.ops.adapt_datetimefield_value
    prepared = [(*row[:6], adapt(row[6]), *row[7:]) for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def _epoch_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


CHUNK = 900  # bound variables per IN list


def aggregate_observations(measure_ids, since: datetime, until: datetime, origin: datetime) -> dict[int, dict]:
    """Aggregates of raw observations with since <= ts < until, grouped by measure, in SQL.

    `origin` is the period start that t is counted from. Used to rebuild a period's
    aggregates and to evaluate as of an instant inside a period.
    """
    if measure_ids is not None and len(measure_ids) > CHUNK:
        ids, merged = sorted(int(i) for i in measure_ids), {}
        for start in range(0, len(ids), CHUNK):
            merged.update(aggregate_observations(ids[start:start + CHUNK], since, until, origin))
        return merged
    table = connection.ops.quote_name(Observation._meta.db_table)
    t = f"({_epoch_sql('ts')} - %s)"
    sql_t_count = 4  # how often {t} (and so the origin parameter) appears in the SELECT below
    measure_filter = ""
    adapt = connection.ops.adapt_datetimefield_value
    params: list = [origin.timestamp()] * sql_t_count + [adapt(since), adapt(until)]
    if measure_ids is not None:
        ids = [int(i) for i in measure_ids]
        if not ids:
            return {}
        measure_filter = f" AND measure_id IN ({', '.join(['%s'] * len(ids))})"
        params += ids
    sql = (
        f"SELECT measure_id, COUNT(*), COALESCE(SUM(value), 0), MIN(value), MAX(value), "
        f"COALESCE(SUM(good), 0), COALESCE(SUM(total), 0), "
        f"COALESCE(SUM(CASE WHEN value IS NULL THEN 0 ELSE {t} END), 0), "
        f"COALESCE(SUM(CASE WHEN value IS NULL THEN 0 ELSE {t} * {t} END), 0), "
        f"COALESCE(SUM({t} * value), 0) "
        f"FROM {table} WHERE ts >= %s AND ts < %s{measure_filter} GROUP BY measure_id"
    )
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for measure_id, n, total, low, high, good, tot, st, stt, sty in cursor.fetchall():
            result[measure_id] = {"n": n, "sum": total, "min": low, "max": high, "sum_good": good,
                                  "sum_total": tot, "sum_t": st, "sum_tt": stt, "sum_ty": sty}
    _add_last(result, since, until)
    return result


def _add_last(result: dict[int, dict], since: datetime, until: datetime) -> None:
    """The last value per measure: greatest ts, ties broken by the later id."""
    ids = sorted(result)
    for start in range(0, len(ids), CHUNK):
        rows = (Observation.objects.filter(measure_id__in=ids[start:start + CHUNK], ts__gte=since, ts__lt=until)
                .order_by("measure_id", "-ts", "-id").values_list("measure_id", "id", "ts", "value"))
        seen = set()
        for measure_id, obs_id, ts, value in rows.iterator(chunk_size=5000):
            if measure_id not in seen:
                seen.add(measure_id)
                result[measure_id].update(last_id=obs_id, last_ts=ts, last_value=value)


def rebuild_period(period: Period) -> int:
    """Recompute a period's aggregates from raw observations (e.g. after the period was created)."""
    start, end = period.bounds()
    figures = aggregate_observations(None, start, end, start)
    MeasureAggregate.objects.filter(period=period).delete()
    MeasureAggregate.objects.bulk_create(
        [MeasureAggregate(measure_id=m, period=period, **values) for m, values in figures.items()], batch_size=2000
    )
    return len(figures)


