"""The one write path for observations, whatever channel they come through
(check-ins, the REST batch endpoint, files, OpenMetrics pushes, scheduled pulls).

Each item is validated; by default a batch with any bad item writes nothing,
and `partial=True` writes the good items and reports the bad ones. A `source_id`
already stored for the measure (or repeated in the batch) is a duplicate and adds
nothing. Observations, their batch (provenance), the running aggregates and one
audit event are written in one transaction.

A batch is handled as columns (numpy arrays), not item by item: the checks run on
whole columns and only the items they flag go through `_check`, which names each
bad field; rows are inserted in (measure, ts) order, and the whole batch is folded
into the aggregates at once.
"""

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice, repeat
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from northstar.audit.services import Action, record_event
from northstar.measures.aggregates import (
    EPOCH,
    MICROSECOND,
    NewObservations,
    add_observations,
    datetime_params,
    microseconds,
    nullable,
)
from northstar.measures.models import IngestBatch, Measure, Observation

WRITE_CHUNK = 20_000  # observation rows per INSERT/COPY round
DUPLICATE_CHUNK = 500  # (measure, source_id) pairs per look-up of stored duplicates
MAX_SOURCE_ID = 128
# Times that a UTC datetime can hold (year 1 to 9999), in microseconds since 1970.
FIRST_US = microseconds(datetime.min.replace(tzinfo=UTC))
LAST_US = microseconds(datetime.max.replace(tzinfo=UTC))
NO_TIME = np.iinfo(np.int64).min  # in a column of microseconds: not a timestamp


@dataclass
class ObservationIn:
    measure: str  # the measure's key
    ts: datetime | str | None
    value: float | None = None
    good: float | None = None
    total: float | None = None
    source_id: str | None = None
    line: int | None = None  # where the item came from (file line); the position is used otherwise


@dataclass
class ItemError:
    item: int  # the line when known, else the 1-based position in the batch
    field: str
    message: str

    def __str__(self):
        return f"item {self.item}, {self.field}: {self.message}"


class IngestRejected(Exception):
    """Some items are bad and the batch was not partial: nothing was written."""

    def __init__(self, errors: list[ItemError]):
        super().__init__(f"{len(errors)} bad item(s); nothing was written")
        self.errors = errors


@dataclass
class IngestResult:
    batch: IngestBatch | None
    received: int
    written: int
    duplicates: int
    errors: list[ItemError] = field(default_factory=list)
    measure_ids: set[int] = field(default_factory=set)
    observations: list[Observation] = field(default_factory=list)


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond the float range (JSON allows them): not finite
        return math.inf if value > 0 else -math.inf


def _timestamp(value) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            return None
        if moment is None:
            return None
    else:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # the organisation's time zone
    return moment


class _MeasureRef(NamedTuple):
    pk: int
    ratio: bool


def _check(item: ObservationIn, position: int, measures: dict[str, _MeasureRef], latest_us: int):
    """(measure id, ts in microseconds since 1970, value, good, total), or a list of ItemErrors naming
    each bad field. The reference for what is accepted: `_check_all` checks whole columns the same way
    and sends every item it flags here."""
    where = item.line or position
    errors = []
    measure = measures.get(item.measure)
    if measure is None:
        errors.append(ItemError(where, "measure", f"unknown measure {item.measure!r}"))
    ts = _timestamp(item.ts)
    ts_us = None if ts is None else microseconds(ts)
    if ts is None:
        errors.append(ItemError(where, "ts", f"not a timestamp: {item.ts!r} (use ISO 8601)"))
    elif ts_us > latest_us:
        errors.append(ItemError(where, "ts", f"{ts.isoformat()} is too far in the future"))
    elif ts_us < FIRST_US:
        errors.append(ItemError(where, "ts", f"{ts.isoformat()} is before the year 1 in UTC"))
    value = good = total = None
    if measure is not None and measure.ratio:
        good, total = _number(item.good), _number(item.total)
        for name, raw, number in (("good", item.good, good), ("total", item.total, total)):
            if number is None:
                errors.append(ItemError(where, name, f"a ratio measure needs a number, not {raw!r}"))
            elif not math.isfinite(number):
                errors.append(ItemError(where, name, f"{raw!r} is not a finite number"))
            elif number < 0:
                errors.append(ItemError(where, name, "cannot be negative"))
        if good is not None and total is not None and math.isfinite(good) and math.isfinite(total) and total < good:
            errors.append(ItemError(where, "total", f"total {total:g} is less than good {good:g}"))
    elif measure is not None:
        value = _number(item.value)
        if value is None:
            errors.append(ItemError(where, "value", f"not a number: {item.value!r}"))
        elif not math.isfinite(value):
            errors.append(ItemError(where, "value", f"{item.value!r} is not a finite number"))
    if item.source_id is not None and len(str(item.source_id)) > MAX_SOURCE_ID:
        errors.append(ItemError(where, "source_id", f"longer than {MAX_SOURCE_ID} characters"))
    if errors:
        return errors
    return measure.pk, ts_us, value, good, total


@dataclass
class _Rows:
    """Checked observations as columns, one entry per row."""

    positions: np.ndarray  # int64: the item's index in the batch (arrival order)
    measure_ids: np.ndarray  # int64
    ts_us: np.ndarray  # int64 microseconds since 1970-01-01 UTC
    values: np.ndarray  # float64, NaN for NULL (ratio measures)
    goods: np.ndarray  # float64, NaN for NULL (other measures)
    totals: np.ndarray  # float64, NaN for NULL (other measures)
    source_ids: list  # str or None

    def __len__(self) -> int:
        return len(self.positions)

    def take(self, index: np.ndarray) -> "_Rows":
        """The rows at `index` (a boolean mask or positions), in that order."""
        picked = np.arange(len(self))[index]
        return _Rows(self.positions[picked], self.measure_ids[picked], self.ts_us[picked], self.values[picked],
                     self.goods[picked], self.totals[picked], [self.source_ids[i] for i in picked.tolist()])


def _numbers(raw: list) -> np.ndarray:
    """_number() of each value as float64, NaN where it is None (not a number)."""
    return np.array([v if type(v) is float or v is None else _number(v) for v in raw], dtype=float)


def _check_all(items: list[ObservationIn], measures: dict[str, _MeasureRef], latest_us: int
               ) -> tuple[_Rows, list[ItemError]]:
    """Check every item: the good ones as columns (in arrival order) and the errors of the bad ones.

    The columns are checked with numpy, by the rules of `_check`; each item they flag
    is checked again by `_check`, which gives its errors (or, should the columns have
    been stricter than `_check`, its values).
    """
    count = len(items)
    # Measures by their row in small lookup arrays; row 0 stands for an unknown measure.
    row_of = {key: row for row, key in enumerate(measures, start=1)}
    pk_by_row = np.array([0, *(ref.pk for ref in measures.values())], dtype=np.int64)
    ratio_by_row = np.array([False, *(ref.ratio for ref in measures.values())], dtype=bool)
    lookup = np.array([row_of.get(item.measure, 0) for item in items], dtype=np.int64)
    known, measure_ids, ratio = lookup > 0, pk_by_row[lookup], ratio_by_row[lookup]
    moments = [ts if type(ts) is datetime and ts.utcoffset() is not None else _timestamp(ts)  # aware: as is
               for ts in (item.ts for item in items)]
    ts_us = np.array([NO_TIME if moment is None else (moment - EPOCH) // MICROSECOND for moment in moments],
                     dtype=np.int64)
    has_ts = ts_us != NO_TIME
    values = _numbers([item.value for item in items])
    goods = _numbers([item.good for item in items])
    totals = _numbers([item.total for item in items])
    source_ids = [None if item.source_id is None else str(item.source_id) for item in items]
    short_ids = np.array([s is None or len(s) <= MAX_SOURCE_ID for s in source_ids], dtype=bool)
    with np.errstate(invalid="ignore"):  # comparisons with NaN are False, as wanted
        ratio_ok = np.isfinite(goods) & np.isfinite(totals) & (goods >= 0) & (totals >= 0) & (totals >= goods)
    good = (known & has_ts & (ts_us >= FIRST_US) & (ts_us <= latest_us) & short_ids
            & np.where(ratio, ratio_ok, np.isfinite(values)))
    values = np.where(ratio, np.nan, values)
    goods = np.where(ratio, goods, np.nan)
    totals = np.where(ratio, totals, np.nan)

    errors: list[ItemError] = []
    for i in np.flatnonzero(~good).tolist():
        checked = _check(items[i], i + 1, measures, latest_us)
        if isinstance(checked, list):
            errors.extend(checked)
            continue
        good[i] = True
        measure_ids[i], ts_us[i], value, good_value, total_value = checked
        values[i], goods[i], totals[i] = (np.nan if x is None else x for x in (value, good_value, total_value))
    rows = _Rows(np.arange(count, dtype=np.int64), measure_ids, ts_us, values, goods, totals, source_ids)
    return rows.take(good), errors


def _already_stored(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (measure id, source id) pairs already stored: one query per DUPLICATE_CHUNK pairs, each pair
    looked up in the partial unique index on (measure, source_id)."""
    table = connection.ops.quote_name(Observation._meta.db_table)
    found = set()
    remaining = iter(sorted(pairs))
    with connection.cursor() as cursor:
        while chunk := list(islice(remaining, DUPLICATE_CHUNK)):
            if connection.vendor == "postgresql":
                # LATERAL ... LIMIT 1: one index probe per pair, whatever the planner's statistics say
                # (a plain join was planned as a scan of the whole index when they were out of date).
                sql = (f"SELECT v.m, v.s FROM unnest(%s::bigint[], %s::text[]) AS v (m, s) CROSS JOIN LATERAL "
                       f"(SELECT 1 FROM {table} o WHERE o.measure_id = v.m AND o.source_id = v.s "
                       f"AND o.source_id IS NOT NULL LIMIT 1) AS stored")
                params = [[m for m, _s in chunk], [s for _m, s in chunk]]
            else:
                # EXISTS, not a join: with statistics (ANALYZE) SQLite plans the join with a Bloom
                # filter built by reading the whole table, a quarter of a second per query at 3 M rows.
                sql = (f"SELECT v.column1, v.column2 FROM (VALUES {', '.join(['(%s, %s)'] * len(chunk))}) AS v "
                       f"WHERE EXISTS (SELECT 1 FROM {table} o WHERE o.measure_id = v.column1 "
                       f"AND o.source_id = v.column2 AND o.source_id IS NOT NULL)")
                params = [value for pair in chunk for value in pair]
            cursor.execute(sql, params)
            found.update((int(m), s) for m, s in cursor.fetchall())
    return found


def _drop_duplicates(rows: _Rows) -> _Rows:
    """Without the rows whose source id came earlier in the batch (for the same measure) or is stored."""
    if all(s is None for s in rows.source_ids):
        return rows
    keep = np.ones(len(rows), dtype=bool)
    first: dict[tuple[int, str], int] = {}
    for k, (measure_id, source_id) in enumerate(zip(rows.measure_ids.tolist(), rows.source_ids, strict=True)):
        if source_id is None:
            continue
        pair = (measure_id, source_id)
        if pair in first:
            keep[k] = False
        else:
            first[pair] = k
    for pair in _already_stored(set(first)):
        keep[first[pair]] = False
    return rows.take(keep)


def _measures(items: list[ObservationIn], acting_user, check_permission: bool) -> dict[str, _MeasureRef]:
    """The active measures named in the batch (that the user may change), by key. The keys go in as
    one parameter: Django spends ~10 µs on each parameter of an IN list, 0.2 s for 20,000 keys."""
    keys = sorted({item.measure for item in items if isinstance(item.measure, str)})  # keys are text
    if connection.vendor == "sqlite":
        wanted = RawSQL("SELECT value FROM json_each(%s)", [json.dumps(keys)])
    elif connection.vendor == "postgresql":
        wanted = RawSQL("SELECT unnest(%s::text[])", [keys])
    else:
        wanted = keys
    queryset = Measure.objects.restrict(acting_user, "change") if check_permission else Measure.objects.all()
    rows = queryset.filter(key__in=wanted, is_active=True).order_by().values_list("key", "pk", "aggregation")
    return {key: _MeasureRef(pk, aggregation == Measure.Aggregation.RATIO) for key, pk, aggregation in rows}


def do_ingest(items: list[ObservationIn], *, source: str, acting_user, token=None, detail: str = "",
              partial: bool = False, check_permission: bool = True, keep_rows: bool | None = None) -> IngestResult:
    """Validate and store observations. Raises IngestRejected (nothing written) when any item
    is bad, unless `partial`. `check_permission=False` only for callers that checked already."""
    measures = _measures(items, acting_user, check_permission)
    latest_us = microseconds(timezone.now() + timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS))

    good, errors = _check_all(items, measures, latest_us)
    if errors and not partial:
        raise IngestRejected(errors)

    # Duplicates: a source id seen earlier in this batch, or already stored.
    fresh = _drop_duplicates(good)
    duplicates = len(good) - len(fresh)

    result = IngestResult(batch=None, received=len(items), written=len(fresh), duplicates=duplicates,
                          errors=errors, measure_ids=set(np.unique(fresh.measure_ids).tolist()))
    if not len(fresh):
        return result
    keep_rows = len(fresh) <= 100 if keep_rows is None else keep_rows
    with transaction.atomic():
        batch = IngestBatch.objects.create(
            uid=uuid.uuid4(), source=source, received=timezone.now(),
            user=acting_user if getattr(acting_user, "pk", None) else None, token=token, detail=detail[:300],
            items=len(items), written=len(fresh), duplicates=duplicates, rejected=len({e.item for e in errors}),
        )
        # In (measure, ts) order, so consecutive rows land on the same index pages. The sort is
        # stable and ids are handed out in that order: rows of one measure with the same ts keep
        # their arrival order, and the later one has the higher id (it is the "last" value).
        rows = fresh.take(np.lexsort((fresh.ts_us, fresh.measure_ids)))
        ids = _write_rows(rows, batch.pk)
        add_observations(NewObservations(ids=ids, measure_ids=rows.measure_ids, ts_us=rows.ts_us,
                                         values=rows.values, goods=np.nan_to_num(rows.goods),
                                         totals=np.nan_to_num(rows.totals)))
        if keep_rows:
            stored = Observation.objects.in_bulk(ids.tolist())
            result.observations = [stored[pk] for pk in ids[np.argsort(rows.positions)].tolist()]
        record_event(Action.CREATE, acting_user=acting_user, obj=batch, after={
            "source": source, "detail": detail[:300], "items": len(items), "written": len(fresh),
            "duplicates": duplicates, "rejected": batch.rejected,
        })
        result.batch = batch
        measure_ids = sorted(result.measure_ids)
        transaction.on_commit(lambda: _observations_changed(measure_ids))
    return result


def _reserve_ids(cursor, table: str, count: int) -> np.ndarray:
    """Primary keys for `count` new observations, ascending, known before the insert (the aggregates need them).

    SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so the
    AUTOINCREMENT counter cannot move under us; PostgreSQL: the sequence hands them out.
    """
    if connection.vendor == "sqlite":
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        first = (row[0] if row else 0) + 1
        return np.arange(first, first + count, dtype=np.int64)
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s) ORDER BY 1",
                   [table, count])
    return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


def _write_rows(rows: _Rows, batch_id: int) -> np.ndarray:
    """Insert the rows, in their order, as plain rows (executemany on SQLite, COPY on PostgreSQL), and
    return their ids. Model instances and bulk_create cost ten times more here."""
    table = Observation._meta.db_table
    columns = "(id, measure_id, ts, value, good, total, source_id, batch_id)"
    with connection.cursor() as cursor:
        ids = _reserve_ids(cursor, table, len(rows))
        for start in range(0, len(rows), WRITE_CHUNK):
            part = slice(start, start + WRITE_CHUNK)
            values = zip(ids[part].tolist(), rows.measure_ids[part].tolist(), datetime_params(rows.ts_us[part]),
                         nullable(rows.values[part]), nullable(rows.goods[part]), nullable(rows.totals[part]),
                         rows.source_ids[part], repeat(batch_id), strict=False)
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f'COPY "{table}" {columns} FROM STDIN') as copy:
                    for row in values:
                        copy.write_row(row)
            else:
                cursor.executemany(f'INSERT INTO "{table}" {columns} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)', values)
    return ids


def _observations_changed(measure_ids: list[int]) -> None:
    """After commit: re-score the affected chain (incrementally, in the worker when one runs)."""
    from northstar.scoring.tasks import schedule_reevaluation

    schedule_reevaluation(measure_ids)
