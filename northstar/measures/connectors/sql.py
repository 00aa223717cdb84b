"""SQL pulls: one read-only query against a database reachable with a connection URL.

Supported URLs (parsed with dj_database_url): `sqlite:////absolute/path.db`
and `postgres://user:password@host:5432/dbname` (also `postgresql://`,
`pgsql://`; query-string options such as `?sslmode=require` are passed to
libpq). Each pull opens its own connection with the driver (sqlite3, psycopg),
never Django's, and closes it afterwards.

Read-only, as far as each database allows:

- SQLite is opened with the `mode=ro` URI, `PRAGMA query_only`, and an
  authorizer that allows reading only (no writes, ATTACH or PRAGMA);
- PostgreSQL runs the query in a `READ ONLY` transaction that is rolled back,
  so data-changing statements fail. Give the pull its own database role with
  SELECT rights only as well: a read-only transaction still lets a query call
  functions with side effects.

Both stop a query after PULL_TIMEOUT_SECONDS (progress handler / statement_timeout).

Query contract (docs/pulls.md): the query returns rows `(ts, value)`, or
`(ts, good, total)` for a ratio measure, by position (names do not matter).
`ts` may be a timestamp, ISO 8601 text, a date, or Unix epoch seconds; a
timestamp without a zone is in the organisation's time zone. The optional
parameter `:since` (SQLite) or `%(since)s` (PostgreSQL) is the newest
timestamp pulled so far, for incremental queries. Each row's source id is
`pull:<pk>:<ts in UTC ISO 8601>`, so one row per timestamp; rows pulled again
add nothing.
"""

import contextlib
import os
import re
import sqlite3
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import quote

import dj_database_url
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from northstar.measures.connectors import Fetched, Point, PullError, redact_url, scrub, timeout_seconds

MAX_ROWS = 100_000
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SQLITE_SINCE = re.compile(r"(?<![:\w]):since\b")
_POSTGRES_SINCE = "%(since)s"
_MAX_MESSAGE = 1000


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def check_url(url: str) -> None:
    """Raise ValueError (plain words) unless `url` is a database URL a pull can use."""
    scheme = _scheme(url)
    if scheme not in SQLITE_SCHEMES + POSTGRES_SCHEMES:
        raise ValueError("A SQL pull URL starts with sqlite:/// (a file) or postgres:// (PostgreSQL).")
    try:
        config = dj_database_url.parse(url)
    except Exception as error:  # dj_database_url raises plain ValueErrors and others on odd input
        raise ValueError(f"Not a valid database URL: {scrub(str(error), url)}") from None
    name = config.get("NAME") or ""
    if scheme in SQLITE_SCHEMES:
        if name in ("", ":memory:") or not os.path.isabs(name):
            raise ValueError("A SQLite URL needs an absolute file path: sqlite:////path/to/file.db (four slashes).")
    elif not name:
        raise ValueError("The URL needs a database name: postgres://user:password@host:5432/dbname.")


def fetch(source, *, now: datetime, since: datetime | None) -> Fetched:
    from northstar.measures.models import Measure

    url, query = source.url, source.query
    ratio = source.measure.aggregation == Measure.Aggregation.RATIO
    since = since or EPOCH
    scheme = _scheme(url)
    try:
        if scheme in SQLITE_SCHEMES:
            columns, rows = _sqlite_rows(url, query, since)
        elif scheme in POSTGRES_SCHEMES:
            columns, rows = _postgres_rows(url, query, since)
        else:
            raise PullError("A SQL pull URL starts with sqlite:/// or postgres://.")
    except PullError as error:
        raise PullError(scrub(str(error), url)[:_MAX_MESSAGE]) from None
    expected = 3 if ratio else 2
    if columns != expected:
        shape = "(ts, good, total)" if ratio else "(ts, value)"
        measure = "a ratio measure" if ratio else "this measure"
        raise PullError(f"The query returns {columns} column(s); {measure} needs {expected}: {shape}.")
    if len(rows) > MAX_ROWS:
        raise PullError(f"The query returned more than {MAX_ROWS} rows. Pull incrementally: add "
                        f"WHERE ts > :since (or %(since)s) ORDER BY ts LIMIT {MAX_ROWS // 10}.")
    fetched = Fetched()
    for line, row in enumerate(rows, start=1):
        ts, key = _timestamp(row[0])
        numbers = [float(x) if isinstance(x, Decimal) else x for x in row[1:]]
        if ratio:
            fetched.points.append(Point(ts=ts, key=key, good=numbers[0], total=numbers[1], line=line))
        else:
            fetched.points.append(Point(ts=ts, key=key, value=numbers[0], line=line))
    return fetched


def _timestamp(raw) -> tuple[datetime | object, str | None]:
    """(aware datetime, source key) or (raw, None) when `raw` is not a time (ingest then rejects the row)."""
    moment = None
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            moment = parse_datetime(text)
            if moment is None and (day := parse_date(text)) is not None:
                moment = datetime(day.year, day.month, day.day)
        except ValueError:
            moment = None
    elif isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        try:
            moment = datetime.fromtimestamp(float(raw), tz=UTC)
        except (OverflowError, OSError, ValueError):
            moment = None
    if moment is None:
        return raw, None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # the organisation's time zone, as for every other channel
    return moment, moment.astimezone(UTC).isoformat()


# -- SQLite ----------------------------------------------------------------------------------

_SQLITE_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                        getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _sqlite_authorizer(action, arg1, arg2, db_name, trigger):
    return sqlite3.SQLITE_OK if action in _SQLITE_READ_ACTIONS else sqlite3.SQLITE_DENY


def _sqlite_rows(url: str, query: str, since: datetime) -> tuple[int, list]:
    path = dj_database_url.parse(url)["NAME"]
    if not os.path.isfile(path):
        raise PullError(f"No SQLite database file at {path}.")
    timeout = timeout_seconds()
    params = {}
    if _SQLITE_SINCE.search(query):
        # SQLite's own datetime() text form, in UTC: compare with datetime(:since) or plain text.
        params["since"] = since.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=timeout,
                                     isolation_level=None)
    except sqlite3.Error as error:
        raise PullError(f"Could not open the SQLite database {path}: {error}.") from None
    deadline = time.monotonic() + timeout
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        connection.set_authorizer(_sqlite_authorizer)
        cursor = connection.execute(query, params)
        if cursor.description is None:
            raise PullError("The query returns no rows; it must be a SELECT.")
        columns = len(cursor.description)
        rows = cursor.fetchmany(MAX_ROWS + 1)
    except sqlite3.Error as error:
        text = str(error)
        if "interrupted" in text:
            raise PullError(f"The query ran longer than {timeout:g} s and was stopped.") from None
        if "not authorized" in text or "readonly" in text or "read-only" in text:
            raise PullError(f"The query may only read (SQLite refused it: {text}).") from None
        raise PullError(f"SQLite refused the query: {text.rstrip('.')}.") from None
    finally:
        connection.close()
    return columns, rows


# -- PostgreSQL ------------------------------------------------------------------------------


def _postgres_rows(url: str, query: str, since: datetime) -> tuple[int, list]:
    import psycopg

    config = dj_database_url.parse(url)
    timeout = timeout_seconds()
    kwargs = {
        "dbname": config["NAME"],
        "connect_timeout": max(int(timeout), 1),
        "application_name": "northstar-pull",
        **{k: v for k, v in (config.get("OPTIONS") or {}).items() if isinstance(v, (str, int))},
    }
    for key, name in (("user", "USER"), ("password", "PASSWORD"), ("host", "HOST"), ("port", "PORT")):
        if config.get(name):
            kwargs[key] = config[name]
    params = {"since": since} if _POSTGRES_SINCE in query else None
    where = redact_url(url)
    try:
        connection = psycopg.connect(**kwargs)
    except psycopg.Error as error:
        raise PullError(f"Could not connect to {where}: {_first_lines(error)}") from None
    try:
        connection.read_only = True  # BEGIN READ ONLY
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            cursor.execute(query, params)
            if cursor.description is None:
                raise PullError("The query returns no rows; it must be a SELECT.")
            columns = len(cursor.description)
            rows = cursor.fetchmany(MAX_ROWS + 1)
    except psycopg.errors.QueryCanceled:
        raise PullError(f"The query ran longer than {timeout:g} s and was stopped.") from None
    except psycopg.errors.ReadOnlySqlTransaction as error:
        raise PullError(f"The query may only read (PostgreSQL refused it: {_first_lines(error)})") from None
    except psycopg.Error as error:
        raise PullError(f"PostgreSQL refused the query: {_first_lines(error)}") from None
    finally:
        with contextlib.suppress(psycopg.Error):
            connection.rollback()  # never commit: the pull only reads
        connection.close()
    return columns, rows


def _first_lines(error, lines: int = 3) -> str:
    text = " ".join(line.strip() for line in str(error).strip().splitlines()[:lines] if line.strip())
    return text or type(error).__name__
