"""The column-wise write path of do_ingest: the numpy checks agree with the per-item `_check`, rows go
in (measure, ts) order without changing what "last" means, duplicates are found in chunks, the
aggregates of a whole batch equal the SQL re-count, and datetimes are stored as Django stores them."""

import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from northstar.measures import ingest
from northstar.measures.aggregates import (
    FIELDS,
    MICROSECOND,
    aggregate_observations,
    datetime_params,
    microseconds,
)
from northstar.measures.ingest import IngestRejected, ItemError, ObservationIn, _check, _check_all, _MeasureRef
from northstar.measures.models import IngestBatch, MeasureAggregate, Observation

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
LATEST_US = microseconds(NOW + timedelta(hours=1))
MEASURES = {"plain": _MeasureRef(1, False), "ratio": _MeasureRef(2, True)}
ZONES = [UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-7, minutes=-30)), ZoneInfo("Europe/Berlin")]


def ingest_items(org, items, **kwargs):
    return ingest.do_ingest(items, source=IngestBatch.Source.API, acting_user=org.admin, **kwargs)


# -- the column checks are _check's rules ------------------------------------------------------

moments = st.one_of(
    st.datetimes(timezones=st.sampled_from(ZONES)),
    st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2026, 3, 21), timezones=st.sampled_from(ZONES)),
    st.datetimes(),  # naive: the organisation's time zone
)
timestamps = st.one_of(
    moments,
    moments.map(lambda moment: moment.isoformat()),
    moments.map(lambda moment: f" {moment.isoformat(' ')} "),
    moments.map(lambda moment: moment.date().isoformat()),
    st.sampled_from(["", "yesterday", "2026-13-01T00:00:00Z", "2026-03-01T09:30:00+0100", "1772359200"]),
    st.none(), st.integers(), st.floats(),
)
numbers = st.one_of(
    st.floats(), st.integers(), st.integers(min_value=10**310, max_value=10**320), st.booleans(), st.none(),
    st.floats(allow_nan=False).map(str), st.sampled_from(["abc", " 12.5 ", "NaN", "-inf", "", "1e999"]),
    st.lists(st.integers(), max_size=2),
)
items_strategy = st.lists(st.builds(
    ObservationIn,
    measure=st.sampled_from(["plain", "ratio", "nope"]),
    ts=timestamps, value=numbers, good=numbers, total=numbers,
    source_id=st.one_of(st.none(), st.text(max_size=130), st.integers()),
    line=st.one_of(st.none(), st.integers(min_value=2, max_value=10**6)),
), max_size=25)


@settings(max_examples=400, deadline=None)
@given(items_strategy)
def test_the_column_checks_accept_and_refuse_exactly_what_check_does(items):
    rows, errors = _check_all(items, MEASURES, LATEST_US)
    expected_errors, expected_rows = [], []
    for position, item in enumerate(items, start=1):
        checked = _check(item, position, MEASURES, LATEST_US)
        if isinstance(checked, list):
            expected_errors.extend(checked)
        else:
            expected_rows.append((position - 1, *checked, None if item.source_id is None else str(item.source_id)))

    def nullable(x):
        return None if math.isnan(x) else x

    got = [(p, m, t, nullable(v), nullable(g), nullable(tot), s) for p, m, t, v, g, tot, s in zip(
        rows.positions.tolist(), rows.measure_ids.tolist(), rows.ts_us.tolist(), rows.values.tolist(),
        rows.goods.tolist(), rows.totals.tolist(), rows.source_ids, strict=True)]
    assert errors == expected_errors
    assert got == expected_rows


def test_errors_name_the_item_and_field_in_item_order():
    items = [ObservationIn("plain", NOW, 1), ObservationIn("nope", "soon", 1, line=7),
             ObservationIn("ratio", NOW, good=5, total=4), ObservationIn("plain", NOW, "x", source_id="s" * 129)]
    rows, errors = _check_all(items, MEASURES, LATEST_US)
    assert rows.positions.tolist() == [0]
    assert errors == [ItemError(7, "measure", "unknown measure 'nope'"),
                      ItemError(7, "ts", "not a timestamp: 'soon' (use ISO 8601)"),
                      ItemError(3, "total", "total 4 is less than good 5"),
                      ItemError(4, "value", "not a number: 'x'"),
                      ItemError(4, "source_id", "longer than 128 characters")]


def test_a_huge_integer_is_not_a_finite_number_rather_than_a_crash():
    _rows, errors = _check_all([ObservationIn("plain", NOW, 10**400)], MEASURES, LATEST_US)
    assert [(e.field, e.message.endswith("is not a finite number")) for e in errors] == [("value", True)]


def test_a_time_before_the_year_1_in_utc_is_refused():
    _rows, errors = _check_all([ObservationIn("plain", "0001-01-01T00:30:00+01:00", 1)], MEASURES, LATEST_US)
    assert [(e.field, e.message) for e in errors] == [
        ("ts", "0001-01-01T00:30:00+01:00 is before the year 1 in UTC")]


# -- storing -----------------------------------------------------------------------------------


EDGE_TIMES = [datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, 0, 1, tzinfo=UTC),
              datetime(2026, 3, 1, 9, 30, 0, 999999, tzinfo=UTC),
              datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
              datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
              datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))]


@pytest.mark.django_db
def test_datetime_params_are_what_django_stores():
    us = np.array([microseconds(moment) for moment in EDGE_TIMES], dtype=np.int64)
    params = datetime_params(us)
    if connection.vendor == "sqlite":
        assert params == [connection.ops.adapt_datetimefield_value(moment) for moment in EDGE_TIMES]
    with connection.cursor() as cursor:  # either way the database reads them as the same instants
        for moment, param in zip(EDGE_TIMES, params, strict=True):
            cursor.execute("SELECT %s", [param]) if connection.vendor == "sqlite" else \
                cursor.execute("SELECT %s::timestamptz", [param])
            stored = cursor.fetchone()[0]
            if connection.vendor == "sqlite":
                from django.utils.dateparse import parse_datetime

                stored = parse_datetime(stored).replace(tzinfo=UTC)
            assert stored == moment


def test_observations_read_back_with_their_exact_times(org, year, measures):
    items = [ObservationIn("latency", moment, i) for i, moment in enumerate(EDGE_TIMES)]
    result = ingest_items(org, items)
    assert [o.ts for o in result.observations] == EDGE_TIMES
    assert sorted(Observation.objects.values_list("ts", flat=True)) == sorted(EDGE_TIMES)


def test_rows_go_in_measure_and_time_order_and_ties_keep_their_arrival_order(org, year, measures):
    at = datetime(2026, 3, 5, 12, tzinfo=UTC)
    items = [ObservationIn("latency", at, 3), ObservationIn("deploys", at, 1), ObservationIn("latency", at, 1),
             ObservationIn("latency", at - timedelta(hours=1), 9), ObservationIn("latency", at, 2)]
    result = ingest_items(org, items)
    # The result lists the rows in arrival order, whatever order they were inserted in.
    assert [(o.measure.key, o.value) for o in result.observations] == [(i.measure, i.value) for i in items]
    ties = Observation.objects.filter(measure=measures["latency"], ts=at).order_by("pk")
    assert list(ties.values_list("value", flat=True)) == [3.0, 1.0, 2.0]
    aggregate = MeasureAggregate.objects.get(measure=measures["latency"], period=year["2026-03"])
    assert aggregate.last_value == 2.0 and aggregate.last_id == ties.last().pk


def test_a_large_batch_in_small_chunks_keeps_aggregates_equal_to_the_recount(org, year, measures, monkeypatch):
    monkeypatch.setattr(ingest, "WRITE_CHUNK", 7)
    rng = np.random.default_rng(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for n in range(600):
        # Whole milliseconds: SQLite's re-count reads times with julianday(), to the millisecond.
        moment = start + timedelta(milliseconds=int(rng.integers(0, 150 * 86_400_000)))
        key = ("deploys", "latency", "availability")[n % 3]
        if key == "availability":
            total = float(rng.integers(1, 100))
            items.append(ObservationIn(key, moment, good=total - 1, total=total, source_id=f"a{n % 50}"))
        else:
            items.append(ObservationIn(key, moment, float(rng.normal(50, 20)), source_id=f"s{n}" if n % 2 else None))
    items.append(ObservationIn("latency", "not a time", 1))
    with pytest.raises(IngestRejected):
        ingest_items(org, items)
    assert Observation.objects.count() == 0
    result = ingest_items(org, items, partial=True)
    # Availability items (n % 3 == 2) repeat their source ids: 200 items, 50 distinct ids.
    assert (result.written, result.duplicates, len(result.errors)) == (450, 150, 1)
    for period in year.values():
        since, until = period.bounds()
        recount = aggregate_observations(None, since, until, since)
        kept = {row["measure_id"]: row for row in
                MeasureAggregate.objects.filter(period=period).values("measure_id", *FIELDS)}
        assert set(kept) == set(recount), period.key
        for measure_id, figures in recount.items():
            for name in FIELDS:
                stored, counted = kept[measure_id][name], figures[name]
                if isinstance(counted, float):
                    assert stored == pytest.approx(counted, rel=1e-9), (period.key, name)
                else:
                    assert stored == counted, (period.key, name)


def test_stored_duplicates_are_found_in_chunks(org, year, measures, monkeypatch):
    monkeypatch.setattr(ingest, "DUPLICATE_CHUNK", 3)
    at = datetime(2026, 3, 2, tzinfo=UTC)
    first = [ObservationIn("deploys", at + timedelta(minutes=n), n, source_id=f"b{n}") for n in range(10)]
    assert ingest_items(org, first).written == 10
    again = first[::2] + [ObservationIn("latency", at, 1, source_id="b1"),
                          ObservationIn("deploys", at, 1, source_id="new")]
    result = ingest_items(org, again)
    assert (result.written, result.duplicates) == (2, 5)
    assert set(Observation.objects.filter(batch=result.batch).values_list("source_id", flat=True)) == {"b1", "new"}


def test_the_sql_recount_gives_floats(org, year, measures):
    ingest_items(org, [ObservationIn("latency", datetime(2026, 3, 1, 9, tzinfo=UTC), 200)])
    start, end = year["2026-03"].bounds()
    figures = aggregate_observations(None, start, end, start)[measures["latency"].pk]
    for name in ("sum", "sum_t", "sum_tt", "sum_ty", "sum_good", "sum_total"):
        assert type(figures[name]) is float, name
    assert figures["sum_t"] == 9 * 3600.0 and figures["sum_ty"] == 9 * 3600.0 * 200


@pytest.mark.django_db
def test_sqlite_connections_get_a_bigger_page_cache(settings):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone()[0] == -settings.SQLITE_CACHE_MB * 1024


def test_microseconds_are_exact():
    moment = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert datetime(1970, 1, 1, tzinfo=UTC) + microseconds(moment) * MICROSECOND == moment
