"""SQL pulls against a real SQLite file made here, and against PostgreSQL when the suite runs on it."""

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection

from northstar.measures.connectors import redact_url
from northstar.measures.connectors.runner import run_pull
from northstar.measures.models import IngestBatch, MeasureAggregate, Observation, PullSource
from northstar.measures.services_pull import do_create_pull_source, do_test_pull_source


def at(day, hour=10):
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def source_for(org, measure, url, query, **extra):
    return do_create_pull_source(measure=measure, kind=PullSource.Kind.SQL, url=url, query=query,
                                 acting_user=org.admin, **extra)


def refreshed(source):
    return PullSource.objects.select_related("measure").get(pk=source.pk)


def march(measure, year):
    return MeasureAggregate.objects.get(measure=measure, period=year["2026-03"])


@pytest.fixture
def sales_db(tmp_path):
    """A SQLite file with readings (ts, value) in three time formats and requests (ts, good, total)."""
    path = tmp_path / "sales.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE readings (ts, value)")
        db.executemany("INSERT INTO readings VALUES (?, ?)", [
            ("2026-03-01 10:00:00", 5),  # SQLite's datetime() text, no zone: the organisation's (UTC)
            ("2026-03-02T10:00:00Z", 7.5),  # ISO 8601 with a zone
            (int(at(3).timestamp()), 9),  # Unix epoch seconds
        ])
        db.execute("CREATE TABLE requests (ts TEXT, good INTEGER, total INTEGER)")
        db.executemany("INSERT INTO requests VALUES (?, ?, ?)", [
            ("2026-03-01 10:00:00", 98, 100), ("2026-03-02 10:00:00", 45, 50),
        ])
        db.execute("CREATE TABLE messy (ts TEXT, value TEXT)")
        db.executemany("INSERT INTO messy VALUES (?, ?)", [
            ("2026-03-01 10:00:00", "1"), ("garbage", "2"), ("2026-03-03 10:00:00", "abc"),
            ("2026-03-04 10:00:00", "4"),
        ])
    return path


def sqlite_url(path):
    return f"sqlite:///{path}"


def test_sqlite_rows_become_observations_and_aggregates_and_a_rerun_adds_nothing(org, year, measures, sales_db):
    source = source_for(org, measures["deploys"], sqlite_url(sales_db), "SELECT ts, value FROM readings")

    result = run_pull(source)

    assert result.ok, result.error
    assert (result.points, result.written, result.duplicates, result.rejected) == (3, 3, 0, 0)
    rows = list(Observation.objects.filter(measure=measures["deploys"]).order_by("ts")
                .values_list("ts", "value", "source_id"))
    assert rows == [
        (at(1), 5.0, f"pull:{source.pk}:2026-03-01T10:00:00+00:00"),
        (at(2), 7.5, f"pull:{source.pk}:2026-03-02T10:00:00+00:00"),
        (at(3), 9.0, f"pull:{source.pk}:2026-03-03T10:00:00+00:00"),
    ]
    assert (march(measures["deploys"], year).n, march(measures["deploys"], year).sum) == (3, 21.5)
    assert IngestBatch.objects.get().source == IngestBatch.Source.SQL
    source = refreshed(source)
    assert source.last_error == "" and source.last_success == source.last_run
    assert source.last_ts == at(3)

    again = run_pull(source)  # no :since in the query: every row comes back, and adds nothing

    assert (again.points, again.written, again.duplicates) == (3, 0, 3)
    assert march(measures["deploys"], year).n == 3
    assert Observation.objects.count() == 3


def test_ratio_rows_feed_good_and_total(org, year, measures, sales_db):
    source = source_for(org, measures["availability"], sqlite_url(sales_db), "SELECT ts, good, total FROM requests")

    result = run_pull(source)

    assert result.ok and result.written == 2
    aggregate = march(measures["availability"], year)
    assert (aggregate.sum_good, aggregate.sum_total) == (143.0, 150.0)


def test_since_pulls_only_rows_newer_than_the_last_one(org, year, measures, sales_db):
    query = "SELECT ts, good, total FROM requests WHERE datetime(ts) > datetime(:since) ORDER BY ts"
    source = source_for(org, measures["availability"], sqlite_url(sales_db), query)
    assert run_pull(source).points == 2
    with closing(sqlite3.connect(sales_db)) as db, db:
        db.execute("INSERT INTO requests VALUES ('2026-03-05 10:00:00', 9, 10)")

    result = run_pull(refreshed(source))

    assert (result.points, result.written, result.duplicates) == (1, 1, 0)
    assert refreshed(source).last_ts == at(5)
    assert run_pull(refreshed(source)).points == 0


def test_bad_rows_are_rejected_by_row_and_the_good_ones_kept(org, year, measures, sales_db):
    source = source_for(org, measures["deploys"], sqlite_url(sales_db), "SELECT ts, value FROM messy ORDER BY rowid")

    result = run_pull(source)

    assert result.ok
    assert (result.points, result.written, result.rejected) == (4, 2, 2)
    source = refreshed(source)
    assert source.last_success == source.last_run
    assert "2 of 4 point(s) rejected" in source.last_error
    assert "item 2, ts: not a timestamp: 'garbage'" in source.last_error
    assert "item 3, value: not a number: 'abc'" in source.last_error
    assert march(measures["deploys"], year).sum == 5.0


@pytest.mark.parametrize("query", [
    "DELETE FROM readings",
    "UPDATE readings SET value = 0 RETURNING ts, value",
    "INSERT INTO readings VALUES ('2026-03-09', 1) RETURNING ts, value",
    "CREATE TABLE evil (ts, value)",
    "ATTACH DATABASE '/tmp/northstar-pull-attach.sqlite3' AS other",
    "PRAGMA journal_mode = DELETE",
])
def test_a_sqlite_pull_may_only_read(org, year, measures, sales_db, query):
    source = source_for(org, measures["deploys"], sqlite_url(sales_db), query)

    result = run_pull(source)

    assert not result.ok
    assert "may only read" in result.error or "readonly" in result.error
    assert refreshed(source).last_error == result.error
    assert refreshed(source).last_success is None
    with closing(sqlite3.connect(sales_db)) as db:
        assert db.execute("SELECT COUNT(*), SUM(value) FROM readings").fetchone() == (3, 21.5)
    assert not os.path.exists("/tmp/northstar-pull-attach.sqlite3")
    assert Observation.objects.count() == 0


@pytest.mark.parametrize(("query", "message"), [
    ("SELEC ts, value FROM readings", 'SQLite refused the query: near "SELEC": syntax error'),
    ("SELECT ts, value FROM nowhere", "no such table: nowhere"),
    ("SELECT ts FROM readings", "returns 1 column(s); this measure needs 2: (ts, value)"),
])
def test_bad_sql_becomes_last_error(org, year, measures, sales_db, query, message):
    source = source_for(org, measures["deploys"], sqlite_url(sales_db), query)

    result = run_pull(source)

    assert not result.ok
    assert message in refreshed(source).last_error
    assert refreshed(source).last_ts is None


def test_a_ratio_measure_needs_three_columns(org, year, measures, sales_db):
    source = source_for(org, measures["availability"], sqlite_url(sales_db), "SELECT ts, value FROM readings")
    assert "a ratio measure needs 3: (ts, good, total)" in run_pull(source).error


def test_a_missing_database_file_is_a_plain_error(org, year, measures, tmp_path):
    source = source_for(org, measures["deploys"], sqlite_url(tmp_path / "nowhere.db"), "SELECT 1, 2")
    assert run_pull(source).error == f"No SQLite database file at {tmp_path / 'nowhere.db'}."


def test_a_slow_query_is_stopped(org, year, measures, sales_db, settings):
    settings.PULL_TIMEOUT_SECONDS = 0.3
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT '2026-03-01', max(x) FROM n"
    source = source_for(org, measures["deploys"], sqlite_url(sales_db), endless)

    result = run_pull(source)

    assert result.error == "The query ran longer than 0.3 s and was stopped."


def test_a_dry_run_writes_nothing(org, year, measures, sales_db):
    source = source_for(org, measures["deploys"], sqlite_url(sales_db), "SELECT ts, value FROM messy")

    result = do_test_pull_source(source, acting_user=org.admin)

    assert result.ok and result.dry_run
    assert (result.points, result.written, result.rejected) == (4, 2, 2)
    assert [p.value for p in result.preview] == ["1", "2", "abc", "4"]
    assert Observation.objects.count() == 0 and IngestBatch.objects.count() == 0
    assert not MeasureAggregate.objects.filter(measure=measures["deploys"]).exists()
    source = refreshed(source)
    assert source.last_run is None and source.last_ts is None and source.last_error == ""


# -- PostgreSQL ------------------------------------------------------------------------------

PG_PASSWORD = "pg-pull-s3cret"


@pytest.fixture(scope="module")
def pg_database(django_db_blocker):
    """A separate database on the suite's PostgreSQL server, with the same tables; dropped afterwards."""
    with django_db_blocker.unblock():
        vendor = connection.vendor
    if vendor != "postgresql":
        pytest.skip("PostgreSQL pulls need the suite to run on PostgreSQL (set DATABASE_URL=postgres://...)")
    from django.conf import settings

    config = settings.DATABASES["default"]
    name = f"northstar_pull_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    server = {"host": config["HOST"] or None, "port": config["PORT"] or None, "user": config["USER"] or None,
              "password": config["PASSWORD"] or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(dbname=name, **server) as db:
            db.execute("CREATE SCHEMA sales")
            db.execute("CREATE TABLE sales.readings (ts timestamptz, value numeric)")
            db.execute("INSERT INTO sales.readings VALUES ('2026-03-01 10:00+00', 5), ('2026-03-02 10:00+00', 7.5),"
                       " ('2026-03-03 12:00+02', 9)")
            db.execute("CREATE TABLE sales.requests (day date, good bigint, total bigint)")
            db.execute("INSERT INTO sales.requests VALUES ('2026-03-01', 98, 100), ('2026-03-02', 45, 50)")
        user = server["user"] or "postgres"
        host = server["host"] or "127.0.0.1"
        port = server["port"] or 5432
        yield {"url": f"postgres://{user}:{PG_PASSWORD}@{host}:{port}/{name}", "connect": {"dbname": name, **server}}
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgres_rows_and_ratio_rows_are_pulled(org, year, measures, pg_database):
    url = pg_database["url"]
    values = source_for(org, measures["deploys"], url, "SELECT ts, value FROM sales.readings ORDER BY ts")
    ratio = source_for(org, measures["availability"], url, "SELECT day, good, total FROM sales.requests")

    first, second = run_pull(values), run_pull(ratio)

    assert first.ok and second.ok, (first.error, second.error)
    assert (first.written, second.written) == (3, 2)
    assert march(measures["deploys"], year).sum == 21.5  # numeric -> float
    aggregate = march(measures["availability"], year)
    assert (aggregate.sum_good, aggregate.sum_total) == (143.0, 150.0)
    assert refreshed(values).last_ts == at(3)  # 12:00+02 is 10:00 UTC
    assert run_pull(refreshed(values)).duplicates == 3


def test_postgres_since_parameter_pulls_incrementally(org, year, measures, pg_database):
    query = "SELECT ts, value FROM sales.readings WHERE ts > %(since)s ORDER BY ts LIMIT 2"
    source = source_for(org, measures["deploys"], pg_database["url"], query)

    assert run_pull(source).written == 2  # the first two, LIMIT 2
    result = run_pull(refreshed(source))  # continues after them

    assert (result.points, result.written) == (1, 1)
    assert run_pull(refreshed(source)).points == 0


@pytest.mark.parametrize("query", [
    "DELETE FROM sales.readings",
    "INSERT INTO sales.readings VALUES (now(), 1) RETURNING ts, value",
    "CREATE TABLE sales.evil (ts timestamptz, value float)",
])
def test_a_postgres_pull_may_only_read(org, year, measures, pg_database, query):
    source = source_for(org, measures["deploys"], pg_database["url"], query)

    result = run_pull(source)

    assert not result.ok
    assert "may only read" in result.error and "read-only transaction" in result.error
    with psycopg.connect(**pg_database["connect"]) as db:
        assert db.execute("SELECT COUNT(*) FROM sales.readings").fetchone() == (3,)


def test_postgres_errors_and_timeouts_become_last_error_without_the_password(org, year, measures, pg_database,
                                                                          settings):
    settings.PULL_TIMEOUT_SECONDS = 1
    url = pg_database["url"]
    bad = source_for(org, measures["deploys"], url, "SELEC ts FROM sales.readings")
    slow = source_for(org, measures["deploys"], url, "SELECT now(), 1 FROM pg_sleep(5)")
    unreachable = source_for(org, measures["deploys"], url.replace(":5432/", ":1/"), "SELECT now(), 1")

    errors = [run_pull(s).error for s in (bad, slow, unreachable)]

    assert 'PostgreSQL refused the query: syntax error at or near "SELEC"' in errors[0]
    assert errors[1] == "The query ran longer than 1 s and was stopped."
    assert errors[2].startswith(f"Could not connect to {redact_url(url.replace(':5432/', ':1/'))}")
    assert ":***@" in errors[2]
    for source in (bad, slow, unreachable):
        assert PG_PASSWORD not in refreshed(source).last_error
