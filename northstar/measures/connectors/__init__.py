"""Pull connectors: fetch a measure's points from a Prometheus HTTP API or a SQL database.

A connector turns one pull source (kind, url, query, mode) into `Point`s; the
runner (`runner.py`) turns those into observations through `do_ingest`, the one
write path, with `source_id = "pull:<source pk>:<point.key>"` so that pulling
the same points again adds nothing.

The connection URL may carry credentials (`user:password@host`). They are used
to connect and nowhere else: `redact_url` is the only form shown or logged, and
`scrub` removes them from any message (a driver's error, a traceback) before it
is stored in `last_error`, logged or answered.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from django.conf import settings

MASK = "***"
# Query-string parameters whose values are secrets (e.g. ?password=..., ?sslpassword=..., ?token=...).
SECRET_PARAM = re.compile(r"pass|secret|token|key|auth", re.IGNORECASE)


class PullError(Exception):
    """A pull failed for a reason the admin can act on; the message is plain words, without credentials."""


@dataclass
class Point:
    """One value at one time. `key` makes the observation's source id; None when `ts` is unusable."""

    ts: datetime | str | None
    key: str | None
    value: object = None
    good: object = None
    total: object = None
    line: int | None = None  # the SQL row number, for error messages


@dataclass
class Fetched:
    points: list[Point] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    # Range mode: where the next run continues even when this window held no data.
    advance_to: datetime | None = None


def timeout_seconds() -> float:
    """How long one pull may take to connect and to run its query (setting PULL_TIMEOUT_SECONDS)."""
    return float(getattr(settings, "PULL_TIMEOUT_SECONDS", 30))


def secrets_of(url: str) -> list[str]:
    """The secret parts of a URL as they may appear in messages: password (raw and decoded), secret params."""
    found = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url] if url else []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        if ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            found += [password, unquote(password)]
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if SECRET_PARAM.search(name) and value:
            found += [value, quote(value, safe="")]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """The URL with its password (or bearer token) and secret query parameters replaced by ***.

    postgres://reader:s3cret@db:5432/sales -> postgres://reader:***@db:5432/sales
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = [(name, MASK if SECRET_PARAM.search(name) and value else value)
                 for name, value in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(message: str, url: str) -> str:
    """`message` with every secret of `url` replaced by ***, and the full URL by its redacted form."""
    message = str(message)
    if not url:
        return message
    message = message.replace(url, redact_url(url))
    for secret in secrets_of(url):
        message = message.replace(secret, MASK)
    return message


def fetch(source, *, now: datetime, since: datetime | None) -> Fetched:
    """Run the source's query once. Raises PullError with a plain, credential-free message."""
    from northstar.measures.models import PullSource

    if source.kind == PullSource.Kind.PROMETHEUS:
        from northstar.measures.connectors import prometheus

        return prometheus.fetch(source, now=now, since=since)
    if source.kind == PullSource.Kind.SQL:
        from northstar.measures.connectors import sql

        return sql.fetch(source, now=now, since=since)
    raise PullError(f"Unknown pull kind {source.kind!r}.")
