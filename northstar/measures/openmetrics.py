"""OpenMetrics and Prometheus text pushes: parsing (with prometheus-client's own parsers)
and the mapping from samples to measures (docs/ingest.md, "Push").

    parse_selector('http_requests_total{service="payments"}') -> ("http_requests_total", {"service": "payments"})
    parse_exposition(body, content_type)                      -> Exposition (families), or ExpositionError
    map_samples(families, measures)                           -> ([MappedObservation, ...], unmapped count)

A sample feeds a measure when the sample's name equals the name in the measure's
`metric_selector` and the selector's labels are a subset of the sample's labels.
Samples are named as they appear in the exposition: a counter `x` has the sample
`x_total`, a histogram `x` has `x_bucket{le=...}`, `x_count` and `x_sum`, a gauge
`x` has `x`. Several matching samples of one push at the same time are added up
into one observation, as PromQL's `sum(selector)` would.
"""

import hashlib
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import parser as prometheus_parser
from prometheus_client.openmetrics import parser as openmetrics_parser

from northstar.measures.ingest import ObservationIn
from northstar.measures.models import Measure

OPENMETRICS_TYPE = "application/openmetrics-text"
OPENMETRICS, PROMETHEUS = "openmetrics", "prometheus"
FORMAT_NAMES = {OPENMETRICS: "OpenMetrics text", PROMETHEUS: "Prometheus text (0.0.4)"}

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NAME_LABEL = re.compile(r'(?:^|,)\s*__name__\s*[=!]')
_OPERATOR = re.compile(r'[a-zA-Z0-9_]\s*(!=|=~|!~)\s*"')


# -- selectors -------------------------------------------------------------------------------


def parse_selector(selector: str) -> tuple[str, dict[str, str]]:
    """'name{label="value", ...}' -> (name, labels); ValueError with a clear message otherwise.

    Only exact label matches (`label="value"`) are supported, as in the OpenMetrics
    exposition itself; the labels are read with prometheus-client's parser.
    """
    text = (selector or "").strip()
    if not text:
        raise ValueError('The selector is empty: give a sample name, e.g. http_requests_total{service="payments"}.')
    brace = text.find("{")
    name, rest = (text, "") if brace < 0 else (text[:brace].strip(), text[brace:])
    if rest and not rest.endswith("}"):
        raise ValueError(f"The selector {text!r} must end with the closing brace of its labels.")
    if not name:
        raise ValueError(f"The selector {text!r} has no sample name before its labels.")
    if not _METRIC_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid metric name: use letters, digits, '_' and ':', "
                         "not starting with a digit.")
    labels_text = rest[1:-1].strip()
    if not labels_text:
        return name, {}
    if _NAME_LABEL.search(labels_text):
        raise ValueError("Put the sample name before the braces, not in a __name__ label.")
    try:
        labels = _parse_labels(labels_text)
    except Exception:  # the parser raises ValueError, and IndexError on some truncated input
        if _OPERATOR.search(labels_text):
            raise ValueError(f"The selector {text!r} uses !=, =~ or !~: only exact matches (label=\"value\") "
                             "are supported.") from None
        raise ValueError(f"The labels of {text!r} cannot be read: write them as label=\"value\", separated by "
                         "commas, with the value in double quotes.") from None
    return name, labels


def _parse_labels(text: str) -> dict[str, str]:
    """The labels, read by prometheus-client's own parser as those of a sample `selector{<text>} 0`."""
    if "\n" in text or "\r" in text:
        raise ValueError("a line break in the labels")
    families = list(prometheus_parser.text_string_to_metric_families(f"selector{{{text}}} 0\n"))
    samples = [sample for family in families for sample in family.samples]
    if len(samples) != 1 or samples[0].name != "selector" or samples[0].value != 0 or samples[0].timestamp:
        raise ValueError("not a list of labels")
    return dict(samples[0].labels)


def format_series(name: str, labels: dict[str, str]) -> str:
    """name{a="1",b="2"} with labels sorted: how a sample is named in errors and reports."""
    if not labels:
        return name
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# -- parsing ---------------------------------------------------------------------------------


class ExpositionError(ValueError):
    """The body is not a valid exposition; `line` is where the parser stopped (1-based)."""

    def __init__(self, message: str, line: int | None = None, detail: str = ""):
        super().__init__(message)
        self.message, self.line, self.detail = message, line, detail or message


@dataclass
class Exposition:
    format: str  # OPENMETRICS or PROMETHEUS
    families: list  # prometheus_client Metric objects

    @property
    def samples(self) -> int:
        return sum(len(family.samples) for family in self.families)


def exposition_format(content_type: str | None) -> str:
    """OpenMetrics for application/openmetrics-text; Prometheus text 0.0.4 for anything else."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return OPENMETRICS if media_type == OPENMETRICS_TYPE else PROMETHEUS


class _NumberedLines:
    """Feeds the parser line by line (as it reads a file) and remembers where it is."""

    def __init__(self, text: str):
        self._file = io.StringIO(text)  # the same line splitting as the parsers' own string entry points
        self.number, self.text, self.finished = 0, "", False

    def __iter__(self):
        for line in self._file:
            self.number, self.text = self.number + 1, line.rstrip("\n")
            yield line
        self.finished = True


def parse_exposition(body: str | bytes, content_type: str | None) -> Exposition:
    """Parse the whole body with prometheus-client's parser for its format.

    Any problem raises ExpositionError naming the line where the parser stopped;
    nothing is returned, so nothing of a bad exposition can be stored.
    """
    kind = exposition_format(content_type)
    text = _decode(body)
    lines = _NumberedLines(text)
    parse = (openmetrics_parser if kind == OPENMETRICS else prometheus_parser).text_fd_to_metric_families
    try:
        families = list(parse(lines))  # the parsers are lazy: consume everything inside the try
    except Exception as error:  # the parsers raise ValueError mostly, but also IndexError, KeyError, ...
        raise _parse_error(kind, lines, error) from None
    return Exposition(kind, families)


def _decode(body: str | bytes) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body[: error.start].count(b"\n") + 1
        raise ExpositionError(f"The body is not UTF-8 text (byte 0x{body[error.start]:02x} on line {line}).",
                              line) from None


def _parse_error(kind: str, lines: _NumberedLines, error: Exception) -> ExpositionError:
    detail = str(error).strip() if isinstance(error, ValueError) else ""
    if isinstance(error, ValueError) and error.args and not isinstance(error.args[0], str):
        detail = ""
    detail = detail or "invalid syntax"
    name = FORMAT_NAMES[kind]
    if lines.number == 0:
        return ExpositionError(f"The body is not valid {name}: {detail}.", 1, detail)
    if lines.finished:
        return ExpositionError(f"The body is not valid {name}: at the end (after line {lines.number}): "
                               f"{detail}.", lines.number, detail)
    shown = lines.text if len(lines.text) <= 120 else lines.text[:117] + "..."
    where = f"line {lines.number}"
    if shown and shown not in detail:
        where += f" ({shown!r})"
    return ExpositionError(f"The body is not valid {name}: {where}: {detail}.", lines.number, detail)


# -- mapping samples to measures -------------------------------------------------------------


@dataclass
class MappedObservation(ObservationIn):
    series: str = ""  # the sample(s) it was made from, for errors and reports


def _selectors(measures) -> dict[str, list[tuple[object, dict[str, str]]]]:
    """Sample name -> [(measure, labels it requires)], for measures that a push can feed."""
    by_name: dict[str, list] = {}
    for measure in measures:
        if not measure.metric_selector or measure.aggregation == Measure.Aggregation.RATIO:
            continue  # a sample is one number; a ratio measure needs good and total
        try:
            name, labels = parse_selector(measure.metric_selector)
        except ValueError:
            continue  # refused when the measure is saved; an old bad selector feeds nothing
        by_name.setdefault(name, []).append((measure, labels))
    return by_name


def _moment(timestamp, received: datetime) -> tuple[datetime | str, str | None]:
    """The sample's time (received when it has none), and a stable text of it for the source id."""
    if timestamp is None:
        return received, None
    seconds = float(timestamp)
    text = str(timestamp)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC), text
    except (OverflowError, OSError, ValueError):
        return f"{text} (seconds since 1970)", text  # refused by do_ingest as "not a timestamp"


def map_samples(families, measures, *, received: datetime | None = None) -> tuple[list[MappedObservation], int]:
    """Observations for the samples that match a measure's selector, and how many samples matched none.

    Samples without a timestamp are taken at `received`. Samples of one measure at
    one time are added up into one observation. An observation made from
    timestamped samples gets a source id derived from its time and series, so that
    pushing the same exposition again adds nothing.
    """
    received = received or datetime.now(tz=UTC)
    by_name = _selectors(measures)
    groups: dict[tuple[str, object], dict] = {}
    unmapped = 0
    for family in families:
        for sample in family.samples:
            matches = [m for m, labels in by_name.get(sample.name, ())
                       if labels.items() <= sample.labels.items()]
            if not matches:
                unmapped += 1
                continue
            ts, ts_text = _moment(sample.timestamp, received)
            series = format_series(sample.name, sample.labels)
            native = getattr(sample, "native_histogram", None)  # prometheus-client 0.20 and later
            value = sample.value if native is None else "a native histogram (no single value)"
            for measure in matches:
                group = groups.setdefault((measure.key, ts), {"values": [], "series": [], "ts_text": ts_text})
                group["values"].append(value)
                group["series"].append(series)
    items = []
    for (key, ts), group in groups.items():
        values = group["values"]
        numeric = all(isinstance(v, (int, float)) for v in values)
        value = math.fsum(values) if numeric and all(math.isfinite(v) for v in values) else (
            sum(values) if numeric else next(v for v in values if not isinstance(v, (int, float))))
        source_id = None
        if group["ts_text"] is not None:
            digest = hashlib.sha256("\n".join([group["ts_text"], *sorted(group["series"])]).encode()).hexdigest()
            source_id = f"push:{digest[:40]}"
        series = " + ".join(group["series"]) if len(group["series"]) <= 3 else (
            f"{group['series'][0]} + {len(group['series']) - 1} more")
        items.append(MappedObservation(measure=key, ts=ts, value=value, source_id=source_id, series=series))
    return items, unmapped
