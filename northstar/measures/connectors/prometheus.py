"""Prometheus HTTP API pulls: a PromQL query, instant (`/api/v1/query`) or range (`/api/v1/query_range`).

Query contract (docs/pulls.md):

- A measure that is not a ratio needs the query to return exactly one series
  (zero is "no data"). Several series are refused with an error that lists
  them: aggregate in PromQL (`sum(...)`, `max by () (...)`) so that what is
  added up is explicit, never guessed here.
- A ratio measure needs exactly two series, labelled `kind="good"` and
  `kind="total"`; points are paired by timestamp (e.g. with `label_replace`).
- Times are aligned to multiples of `step_seconds`: an instant query is
  evaluated at the last step boundary, a range query covers whole steps. So
  every point has a stable timestamp and its source id `pull:<pk>:<epoch>`;
  pulling the same window again adds nothing.
- Range mode pulls from the step after `last_ts` (on the first run, the 100
  steps before now) up to the last step boundary, at most MAX_POINTS points
  per run; a longer backlog is caught up over the next runs.

Credentials travel in the URL: `https://user:password@host` is sent as HTTP
basic auth, `https://:token@host` (empty user name) as `Authorization: Bearer
token`. They are never put in the request URL, logged, or echoed in errors, and
redirects are not followed (they would carry the Authorization header elsewhere).
"""

import base64
import json
import math
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from northstar.measures.connectors import Fetched, Point, PullError, redact_url, scrub, timeout_seconds

FIRST_RUN_STEPS = 100  # range mode, first run: this many steps back from now
MAX_POINTS = 10_000  # per series and run; Prometheus itself refuses more than 11,000
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
RATIO_LABEL = "kind"


def check_url(url: str) -> None:
    """Raise ValueError (plain words) unless `url` is an http(s) base URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise ValueError(f"Not a valid URL: {scrub(str(error), url)}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("A Prometheus URL starts with http:// or https://.")
    if not parts.hostname:
        raise ValueError("The URL has no host name.")
    if parts.fragment:
        raise ValueError("The URL cannot have a #fragment.")


def _endpoint(url: str, api_path: str) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """(URL without credentials, headers, extra parameters from the URL's query string)."""
    parts = urlsplit(url)
    headers = {"Accept": "application/json", "User-Agent": "northstar-pull"}
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    if "@" in parts.netloc:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        if user == "" and password:
            headers["Authorization"] = f"Bearer {password}"
        elif user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
    path = parts.path.rstrip("/") + api_path
    return urlunsplit((parts.scheme, netloc, path, "", "")), headers, parse_qsl(parts.query)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError


_opener = urllib.request.build_opener(_NoRedirect)


def api_request(url: str, api_path: str, params: dict[str, str]) -> dict:
    """POST a query to the Prometheus HTTP API; the `data` of a successful answer, else PullError."""
    endpoint, headers, extra = _endpoint(url, api_path)
    timeout = timeout_seconds()
    body = urlencode([*extra, *params.items()]).encode()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
    where = redact_url(url)
    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise PullError(scrub(_http_error_message(error, where), url)) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise PullError(f"Prometheus at {where} did not answer within {timeout:g} s.") from None
        reason = getattr(reason, "strerror", None) or str(reason)
        raise PullError(scrub(f"Could not reach Prometheus at {where}: {reason}.", url)) from None
    except TimeoutError:
        raise PullError(f"Prometheus at {where} did not answer within {timeout:g} s.") from None
    except OSError as error:
        raise PullError(scrub(f"Could not reach Prometheus at {where}: {error}.", url)) from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise PullError(f"The answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB; narrow the query.")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise PullError(f"The answer from {where} is not Prometheus API JSON; check the base URL.") from None
    if not isinstance(answer, dict) or answer.get("status") != "success" or "data" not in answer:
        raise PullError(scrub(_error_text(answer) or f"The answer from {where} is not a successful query.", url))
    return answer["data"]


def _error_text(answer) -> str:
    if isinstance(answer, dict) and answer.get("status") == "error":
        kind = answer.get("errorType") or "error"
        return f"Prometheus refused the query ({kind}): {answer.get('error') or 'no detail'}"
    return ""


def _http_error_message(error: urllib.error.HTTPError, where: str) -> str:
    try:
        detail = error.read(64 * 1024)
        answer = json.loads(detail)
    except (ValueError, OSError):
        answer = None
    text = _error_text(answer)
    if text:
        return text
    status = f"{error.code} {error.reason}".strip()
    if error.code in (401, 403):
        return f"Prometheus at {where} answered {status}: check the user name and password (or token) in the URL."
    if error.code == 404:
        return f"Prometheus at {where} answered 404 Not Found: check the base URL (it ends before /api/v1)."
    if 300 <= error.code < 400:
        return f"Prometheus at {where} answered {status} (a redirect, not followed): use the final URL."
    return f"Prometheus at {where} answered {status}."


def _align(moment: datetime, step: int) -> int:
    return math.floor(moment.timestamp() / step) * step


def _epoch_key(epoch) -> str:
    text = f"{float(epoch):.3f}".rstrip("0").rstrip(".")
    return text


def _moment(epoch) -> datetime:
    return datetime.fromtimestamp(float(epoch), tz=UTC)


def _labels(metric: dict) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return "{" + inner + "}"


def fetch(source, *, now: datetime, since: datetime | None) -> Fetched:
    from northstar.measures.models import Measure, PullSource

    step = max(int(source.step_seconds or 1), 1)
    timeout = f"{max(int(timeout_seconds()), 1)}s"
    fetched = Fetched()
    if source.mode == PullSource.Mode.RANGE:
        end = _align(now, step)
        start = end - FIRST_RUN_STEPS * step if since is None else _align(since, step) + step
        if start > end:
            return fetched  # nothing new since the last run
        if (end - start) // step + 1 > MAX_POINTS:
            end = start + (MAX_POINTS - 1) * step
            fetched.advance_to = _moment(end)
        fetched.window_start, fetched.window_end = _moment(start), _moment(end)
        data = api_request(source.url, "/api/v1/query_range", {
            "query": source.query, "start": str(start), "end": str(end), "step": str(step), "timeout": timeout,
        })
        expected = ("matrix",)
    else:
        at = _align(now, step)
        fetched.window_start = fetched.window_end = _moment(at)
        data = api_request(source.url, "/api/v1/query", {"query": source.query, "time": str(at), "timeout": timeout})
        expected = ("vector", "scalar")

    kind = data.get("resultType")
    if kind not in expected:
        raise PullError(f"The query returned a {kind}; a {source.mode} pull needs a {' or '.join(expected)}.")
    series = _series(kind, data.get("result"))
    if not series:
        return fetched
    if source.measure.aggregation == Measure.Aggregation.RATIO:
        fetched.points = _ratio_points(series)
    else:
        if len(series) > 1:
            shown = ", ".join(_labels(metric) for metric, _ in series[:3])
            more = f" and {len(series) - 3} more" if len(series) > 3 else ""
            raise PullError(
                f"The query returned {len(series)} series ({shown}{more}); a pull feeds one measure, so it needs "
                f"exactly one. Aggregate them in the query, e.g. sum(...) or max(...)."
            )
        _metric, samples = series[0]
        fetched.points = [Point(ts=_moment(t), key=_epoch_key(t), value=v) for t, v in samples]
    return fetched


def _series(kind: str, result) -> list[tuple[dict, list]]:
    """[(labels, [(epoch, "value"), ...])] whatever the result type."""
    if not isinstance(result, list):
        raise PullError("The answer has no result list.")
    if kind == "scalar":
        return [({}, [tuple(result)])]
    if kind == "vector":
        return [(item.get("metric") or {}, [tuple(item["value"])]) for item in result]
    return [(item.get("metric") or {}, [tuple(v) for v in item.get("values") or []]) for item in result]


def _ratio_points(series: list[tuple[dict, list]]) -> list[Point]:
    by_kind: dict[str, list] = {}
    for metric, samples in series:
        side = metric.get(RATIO_LABEL)
        if side not in ("good", "total") or side in by_kind:
            shown = ", ".join(_labels(m) for m, _ in series[:4])
            raise PullError(
                f'A ratio measure needs exactly two series labelled {RATIO_LABEL}="good" and {RATIO_LABEL}="total"; '
                f"the query returned {len(series)}: {shown}."
            )
        by_kind[side] = samples
    if set(by_kind) != {"good", "total"}:
        missing = ({"good", "total"} - set(by_kind)).pop()
        raise PullError(f'A ratio measure needs a series labelled {RATIO_LABEL}="{missing}" too; the query has none.')
    good = {_epoch_key(t): (t, v) for t, v in by_kind["good"]}
    total = {_epoch_key(t): (t, v) for t, v in by_kind["total"]}
    points = []
    for key in sorted(set(good) | set(total), key=float):
        t = (good.get(key) or total.get(key))[0]
        # A time with one side only becomes an item without the other number: ingest rejects it by name.
        points.append(Point(ts=_moment(t), key=key, good=(good.get(key) or (None, None))[1],
                            total=(total.get(key) or (None, None))[1]))
    return points
