"""The one write path for observations, whatever channel they come through
(check-ins, the REST batch endpoint, files, OpenMetrics pushes, scheduled pulls).

Each item is validated; by default a batch with any bad item writes nothing,
and `partial=True` writes the good items and reports the bad ones. A `source_id`
already stored for the measure (or repeated in the batch) is a duplicate and adds
nothing. Observations, their batch (provenance), the running aggregates and one
audit event are written in one transaction.
"""

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from northstar.audit.services import Action, record_event
from northstar.measures.aggregates import NewObservations, add_observations
from northstar.measures.models import IngestBatch, Measure, Observation

WRITE_CHUNK = 5000


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
    return float(value)


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


def _check(item: ObservationIn, position: int, measures: dict[str, Measure], latest: datetime):
    """(measure, ts, value, good, total) or a list of ItemErrors naming each bad field."""
    where = item.line or position
    errors = []
    measure = measures.get(item.measure)
    if measure is None:
        errors.append(ItemError(where, "measure", f"unknown measure {item.measure!r}"))
    ts = _timestamp(item.ts)
    if ts is None:
        errors.append(ItemError(where, "ts", f"not a timestamp: {item.ts!r} (use ISO 8601)"))
    elif ts > latest:
        errors.append(ItemError(where, "ts", f"{ts.isoformat()} is too far in the future"))
    value = good = total = None
    if measure is not None and measure.aggregation == Measure.Aggregation.RATIO:
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
    if item.source_id is not None and len(str(item.source_id)) > 128:
        errors.append(ItemError(where, "source_id", "longer than 128 characters"))
    if errors:
        return errors
    return measure, ts, value, good, total


def _already_stored(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    found = set()
    by_measure: dict[int, list[str]] = {}
    for measure_id, source_id in pairs:
        by_measure.setdefault(measure_id, []).append(source_id)
    for measure_id, source_ids in by_measure.items():
        for start in range(0, len(source_ids), 900):
            chunk = source_ids[start:start + 900]
            found.update(Observation.objects.filter(measure_id=measure_id, source_id__in=chunk)
                         .values_list("measure_id", "source_id"))
    return found


def do_ingest(items: list[ObservationIn], *, source: str, acting_user, token=None, detail: str = "",
              partial: bool = False, check_permission: bool = True, keep_rows: bool | None = None) -> IngestResult:
    """Validate and store observations. Raises IngestRejected (nothing written) when any item
    is bad, unless `partial`. `check_permission=False` only for callers that checked already."""
    keys = {item.measure for item in items}
    measures_qs = Measure.objects.restrict(acting_user, "change") if check_permission else Measure.objects.all()
    measures = {m.key: m for m in measures_qs.filter(key__in=keys, is_active=True)}
    latest = timezone.now() + timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS)

    good_rows, errors = [], []
    for position, item in enumerate(items, start=1):
        checked = _check(item, position, measures, latest)
        if isinstance(checked, list):
            errors.extend(checked)
        else:
            good_rows.append((item, checked))
    if errors and not partial:
        raise IngestRejected(errors)

    # Duplicates: a source id seen earlier in this batch, or already stored.
    seen, fresh = set(), []
    for item, checked in good_rows:
        if item.source_id is not None:
            pair = (checked[0].pk, str(item.source_id))
            if pair in seen:
                continue
            seen.add(pair)
        fresh.append((item, checked))
    stored = _already_stored(seen)
    fresh = [(i, c) for i, c in fresh if i.source_id is None or (c[0].pk, str(i.source_id)) not in stored]
    duplicates = len(good_rows) - len(fresh)

    result = IngestResult(batch=None, received=len(items), written=len(fresh), duplicates=duplicates,
                          errors=errors, measure_ids={c[0].pk for _i, c in fresh})
    if not fresh:
        return result
    keep_rows = len(fresh) <= 100 if keep_rows is None else keep_rows
    with transaction.atomic():
        batch = IngestBatch.objects.create(
            uid=uuid.uuid4(), source=source, received=timezone.now(),
            user=acting_user if getattr(acting_user, "pk", None) else None, token=token, detail=detail[:300],
            items=len(items), written=len(fresh), duplicates=duplicates, rejected=len({e.item for e in errors}),
        )
        for start in range(0, len(fresh), WRITE_CHUNK):
            chunk = fresh[start:start + WRITE_CHUNK]
            columns = _write_rows(chunk, batch.pk)
            add_observations(columns)
            if keep_rows:
                result.observations.extend(Observation.objects.filter(pk__in=columns.ids.tolist()).order_by("pk"))
        record_event(Action.CREATE, acting_user=acting_user, obj=batch, after={
            "source": source, "detail": detail[:300], "items": len(items), "written": len(fresh),
            "duplicates": duplicates, "rejected": batch.rejected,
        })
        result.batch = batch
        measure_ids = sorted(result.measure_ids)
        transaction.on_commit(lambda: _observations_changed(measure_ids))
    return result


def _reserve_ids(cursor, table: str, count: int) -> list[int]:
    """Primary keys for `count` new observations, known before the insert (the aggregates need them).

    SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so the
    AUTOINCREMENT counter cannot move under us; PostgreSQL: the sequence hands them out.
    """
    if connection.vendor == "sqlite":
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        first = (row[0] if row else 0) + 1
        return list(range(first, first + count))
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
    return [row[0] for row in cursor.fetchall()]


def _write_rows(chunk, batch_id: int) -> NewObservations:
    """Insert checked items as plain rows (executemany on SQLite, COPY on PostgreSQL) and return
    their columns for the aggregates. Model instances and bulk_create cost ten times more here."""
    table = Observation._meta.db_table
    count = len(chunk)
    measure_ids = [checked[0].pk for _item, checked in chunk]
    moments = [checked[1] for _item, checked in chunk]
    values = [checked[2] for _item, checked in chunk]
    goods = [checked[3] for _item, checked in chunk]
    totals = [checked[4] for _item, checked in chunk]
    source_ids = [None if item.source_id is None else str(item.source_id) for item, _checked in chunk]
    columns = "(id, measure_id, ts, value, good, total, source_id, batch_id)"
    with connection.cursor() as cursor:
        ids = _reserve_ids(cursor, table, count)
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f'COPY "{table}" {columns} FROM STDIN') as copy:
                for row in zip(ids, measure_ids, moments, values, goods, totals, source_ids, [batch_id] * count,
                               strict=True):
                    copy.write_row(row)
        else:
            adapt = connection.ops.adapt_datetimefield_value
            cursor.executemany(
                f'INSERT INTO "{table}" {columns} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)',
                list(zip(ids, measure_ids, [adapt(m) for m in moments], values, goods, totals, source_ids,
                         [batch_id] * count, strict=True)),
            )
    return NewObservations(
        ids=np.array(ids, dtype=np.int64),
        measure_ids=np.array(measure_ids, dtype=np.int64),
        ts=np.array([m.timestamp() for m in moments]),
        values=np.array([np.nan if v is None else v for v in values], dtype=float),
        goods=np.array([0.0 if g is None else g for g in goods], dtype=float),
        totals=np.array([0.0 if t is None else t for t in totals], dtype=float),
    )


def _observations_changed(measure_ids: list[int]) -> None:
    """After commit: re-score the affected chain (incrementally, in the worker when one runs)."""
    from northstar.scoring.tasks import schedule_reevaluation

    schedule_reevaluation(measure_ids)
