"""The scoring engine: shared/SCORING.md sections 1-7 as pure, vectorised functions on numpy arrays.

Every performance number Northstar shows goes through this module: KPIs, key
results, objectives, perspectives and scorecards (and, later, SLOs and SLAs).
It imports numpy and the standard library only, never Django, so it can be tested
and benchmarked without a database.

Conventions (they hold for every function below):

- Input is columnar: one array element per measure (or per child, for roll-ups),
  never one per observation. Per-measure aggregates are computed in SQL or kept at
  ingest time and passed in as `Aggregates`.
- Scalars broadcast: any per-element argument may be a scalar instead of an array.
- Times are epoch seconds as float64 (`to_epoch_seconds` converts aware datetimes
  and numpy datetime64 values).
- "Undefined" is NaN, for numbers in and out; optional inputs such as a baseline or
  a tolerance are "not set" when NaN (None is accepted and means NaN).
- Categorical inputs (polarity, aggregation, tracking, status, status rule) are the
  integer codes of the IntEnums below, or their lower-case names as strings
  ("increase", "on_track", ...). Status outputs are int8 codes of `Status`;
  `status_slugs` turns them into the strings the database stores.
- Full float64 precision; nothing is rounded.
- Bad configuration raises ValueError naming the field and the first bad row.

Each function implements one rule of SCORING.md; docs/scoring.md maps the rules to
the functions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "DEFAULT_AT_RISK",
    "DEFAULT_CAP",
    "DEFAULT_ON_TRACK",
    "GRACE_FRACTION",
    "LEAST_SQUARES_MIN_SPREAD",
    "MAX_CAP",
    "STATUS_SLUGS",
    "Aggregates",
    "Aggregation",
    "Edges",
    "Health",
    "Leaves",
    "MeasureScores",
    "Polarity",
    "RollUp",
    "Status",
    "StatusRule",
    "Tracking",
    "attainment",
    "default_tracking",
    "elapsed_fraction",
    "evaluate_measures",
    "forecast",
    "forecast_status",
    "health_and_status",
    "is_closed",
    "period_actual",
    "roll_up",
    "roll_up_tree",
    "score",
    "status_from_health",
    "status_slugs",
    "to_epoch_seconds",
]

DEFAULT_CAP = 1.0  # SCORING.md §2
MAX_CAP = 2.0  # SCORING.md §2: the cap is at most 2.0
DEFAULT_ON_TRACK = 1.0  # SCORING.md §2
DEFAULT_AT_RISK = 0.8  # SCORING.md §2
GRACE_FRACTION = 0.1  # SCORING.md §5: linear measures are pending while f < 0.1
# SCORING.md §6: the least-squares line needs a spread of observation times. When
# n*Σt² - (Σt)² is below this share of n*Σt², the spread is lost in rounding (or is
# zero) and the forecast falls back to the actual.
LEAST_SQUARES_MIN_SPREAD = 1e-9


# --- Codes -----------------------------------------------------------------------------------


class _Code(enum.IntEnum):
    """An IntEnum whose members also have a lower-case string name (`slug`)."""

    @property
    def slug(self) -> str:
        return self.name.lower()


class Polarity(_Code):
    INCREASE = 0
    DECREASE = 1
    RANGE = 2


class Aggregation(_Code):
    LAST = 0
    SUM = 1
    MEAN = 2
    MIN = 3
    MAX = 4
    COUNT = 5
    RATIO = 6


class Tracking(_Code):
    STEADY = 0
    LINEAR = 1


class Status(_Code):
    """Status codes, ordered so that OFF_TRACK < AT_RISK < ON_TRACK."""

    NO_DATA = 0
    PENDING = 1
    OFF_TRACK = 2
    AT_RISK = 3
    ON_TRACK = 4


class StatusRule(_Code):
    WEIGHTED = 0  # status from the node's health H and thresholds
    WORST = 1  # status of the worst counted child


STATUS_SLUGS: tuple[str, ...] = tuple(member.slug for member in Status)  # indexed by code
_STATUS_SLUG_ARRAY = np.array(STATUS_SLUGS)


def status_slugs(codes: Any) -> np.ndarray:
    """Status codes -> their strings ("no_data", "pending", "off_track", "at_risk", "on_track")."""
    return _STATUS_SLUG_ARRAY[_codes(codes, Status, "status")]


def _codes(values: Any, kind: type[_Code], field: str) -> np.ndarray:
    """Integer codes (int64) of `kind` from codes, members or lower-case names; ValueError when unknown."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(array.shape, dtype=np.int64)
    if array.dtype.kind in "iu":
        codes = array.astype(np.int64, copy=False)
    elif array.dtype.kind in "UOS":
        try:
            uniques, inverse = np.unique(array.ravel(), return_inverse=True)
        except TypeError:
            raise ValueError(f"{field}: expected {kind.__name__} codes or names, found a missing value or "
                             "a mix of kinds") from None
        table = np.array([_one_code(value, kind, field) for value in uniques], dtype=np.int64)
        codes = table[inverse].reshape(array.shape)
    else:
        raise ValueError(f"{field}: expected {kind.__name__} codes or names, got an array of {array.dtype}")
    bad = (codes < 0) | (codes >= len(kind))
    if bad.any():
        row = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"{field}: unknown {kind.__name__} code {int(codes.ravel()[row])} in row {row}")
    return codes


def _one_code(value: Any, kind: type[_Code], field: str) -> int:
    if isinstance(value, str):
        try:
            return kind[value.upper()]
        except KeyError:
            names = ", ".join(member.slug for member in kind)
            raise ValueError(f"{field}: unknown {kind.__name__} {value!r} (expected one of {names})") from None
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"{field}: expected {kind.__name__} codes or names, got {value!r}")


def _floats(values: Any) -> np.ndarray:
    """float64 array; None becomes NaN."""
    if values is None:
        return np.float64(np.nan)
    return np.asarray(values, dtype=np.float64)


def _require(ok: np.ndarray, values: np.ndarray, field: str, rule: str) -> None:
    """ValueError naming the field and the first row where `ok` is False."""
    ok = np.asarray(ok)
    if not ok.all():
        row = int(np.flatnonzero(~ok.ravel())[0])
        value = np.broadcast_to(values, ok.shape).ravel()[row]
        raise ValueError(f"{field} {rule}; row {row} has {value!r}")


def _checked_cap(cap: Any) -> np.ndarray:
    c = _floats(DEFAULT_CAP if cap is None else cap)
    _require((c >= 0) & (c <= MAX_CAP), c, "cap", f"must be within [0, {MAX_CAP}]")
    return c


def to_epoch_seconds(values: Any) -> np.ndarray:
    """Aware datetimes, numpy datetime64 values (read as UTC) or numbers -> float64 epoch seconds.

    A naive `datetime` raises ValueError: Northstar's times are timezone-aware. None
    and NaT become NaN. (Datetime objects are converted one by one; pass datetime64
    arrays or epoch seconds from SQL for large inputs.)
    """
    array = np.asarray(values)
    if array.dtype.kind == "M":
        return (array - np.datetime64(0, "s")) / np.timedelta64(1, "s")
    if array.dtype.kind != "O":
        return array.astype(np.float64)
    return np.array([_epoch(value) for value in array.ravel()], dtype=np.float64).reshape(array.shape)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: times must be timezone-aware")
        return value.timestamp()
    return np.nan if value is None else float(value)


# --- §1 Periods ------------------------------------------------------------------------------


def elapsed_fraction(start: Any, end: Any, t: Any) -> np.ndarray:
    """f = clamp((t - start) / (end - start), 0, 1) (§1). Epoch seconds; end must be after start; no NaN."""
    start, end, t = _floats(start), _floats(end), _floats(t)
    _require(end > start, end, "end", "must be after start")
    return np.clip((t - start) / (end - start), 0.0, 1.0)


def is_closed(end: Any, t: Any) -> np.ndarray:
    """The period [start, end) is closed at t when t >= end (§1). Epoch seconds."""
    return _floats(t) >= _floats(end)


# --- §3 Period actual ------------------------------------------------------------------------


def _column(values: Any, fill: float) -> np.ndarray:
    array = np.array(values, dtype=np.float64, ndmin=1)  # a copy: callers' arrays are never aliased
    if array.ndim != 1:
        raise ValueError("aggregates: every column must be one-dimensional")
    return np.where(np.isnan(array), fill, array) if not np.isnan(fill) else array


@dataclass(frozen=True)
class Aggregates:
    """Per-measure aggregates of the observations in [start, min(end, t)), one element per measure.

    The caller selects the observations (SCORING.md §3); the engine only reads these
    sums. Least-squares sums use t = observation time in seconds since the period
    start. For a non-ratio measure every observation carries a value, so `n` also
    counts the points of the least-squares line.

    - n: number of observations (0 = no data).
    - sum: Σ value (also the Σy of the least-squares sums).
    - min, max, last: NaN when there are no values; `last` is the value with the
      greatest ts, ties broken by the one recorded last.
    - sum_good, sum_total: Σ good and Σ total of a ratio measure's observations.
    - sum_t, sum_tt, sum_ty: Σt, Σt², Σt·value.

    Columns left out (None) mean 0 for the sums and NaN for min, max and last; NaN
    in a sum column is read as 0 (SQL's SUM of nothing).
    """

    n: np.ndarray
    sum: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    last: np.ndarray | None = None
    sum_good: np.ndarray | None = None
    sum_total: np.ndarray | None = None
    sum_t: np.ndarray | None = None
    sum_tt: np.ndarray | None = None
    sum_ty: np.ndarray | None = None

    _NAN_COLUMNS = ("min", "max", "last")

    def __post_init__(self):
        n = _column(self.n, 0.0)
        _require(n >= 0, n, "aggregates.n", "must be >= 0")
        object.__setattr__(self, "n", n)
        for field in fields(self)[1:]:
            value = getattr(self, field.name)
            fill = np.nan if field.name in self._NAN_COLUMNS else 0.0
            column = np.full(len(n), fill) if value is None else _column(value, fill)
            if len(column) != len(n):
                raise ValueError(f"aggregates.{field.name}: {len(column)} rows, expected {len(n)} (as n)")
            object.__setattr__(self, field.name, column)

    def __len__(self) -> int:
        return len(self.n)

    @classmethod
    def empty(cls, size: int) -> Aggregates:
        """`size` measures without observations."""
        return cls(n=np.zeros(size))

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | None]) -> Aggregates:
        """From one mapping per measure, keyed like the columns (or `MeasureAggregate`'s fields:
        `last_value` is read as `last`). None, a missing key or a missing record means "nothing"."""
        columns: dict[str, list] = {field.name: [] for field in fields(cls)}
        for record in records:
            record = record or {}
            for name, column in columns.items():
                value = record.get(name)
                if value is None and name == "last":
                    value = record.get("last_value")
                column.append(value)
        columns["n"] = [0 if value is None else value for value in columns["n"]]
        return cls(**columns)


# --- §4 Attainment and score -----------------------------------------------------------------


def period_actual(aggregation: Any, aggregates: Aggregates) -> np.ndarray:
    """The period actual A per measure (§3); NaN when undefined (no observations, or Σtotal = 0 for ratio)."""
    kind = _codes(aggregation, Aggregation, "aggregation")
    n = aggregates.n
    with np.errstate(all="ignore"):
        mean = aggregates.sum / n
        ratio = np.where(aggregates.sum_total != 0, aggregates.sum_good / aggregates.sum_total, np.nan)
    by_kind = {
        Aggregation.LAST: aggregates.last,
        Aggregation.SUM: aggregates.sum,
        Aggregation.MEAN: mean,
        Aggregation.MIN: aggregates.min,
        Aggregation.MAX: aggregates.max,
        Aggregation.COUNT: n,
        Aggregation.RATIO: ratio,
    }
    actual = np.choose(kind, [by_kind[member] for member in Aggregation])
    return np.where(n > 0, actual, np.nan)


def _range_attainment(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    default = upper - lower
    default = np.where(default == 0, 0.1 * np.abs(lower), default)
    default = np.where(default == 0, 1.0, default)
    tol = np.where(np.isnan(tolerance), default, tolerance)
    inside = (lower <= actual) & (actual <= upper)
    distance = np.where(actual < lower, lower - actual, actual - upper)
    # An explicit tolerance of 0 makes the bounds hard: d / 0 = inf, so a = 0 outside.
    return np.where(inside, 1.0, np.maximum(0.0, 1.0 - distance / tol))


def attainment(
    actual: Any,
    polarity: Any,
    target: Any = None,
    baseline: Any = None,
    lower: Any = None,
    upper: Any = None,
    tolerance: Any = None,
    cap: Any = DEFAULT_CAP,
) -> np.ndarray:
    """Attainment a, not clipped (§4).

    NaN allowed: `actual` (undefined -> NaN out); `target` (increase/decrease: NaN out;
    unused for range); `baseline` (not set: b = 0 for increase, T / A for decrease);
    `lower`/`upper` (range: NaN out; unused otherwise); `tolerance` (not set: the
    §4 default). `cap` (used as a = c for decrease without baseline when A <= 0)
    must be within [0, 2]; `tolerance` must be >= 0; for range `lower <= upper`.
    """
    pol = _codes(polarity, Polarity, "polarity")
    a_ = _floats(actual)
    t_ = _floats(target)
    b_ = _floats(baseline)
    lo, hi, tol = _floats(lower), _floats(upper), _floats(tolerance)
    c = _checked_cap(cap)
    _require(np.isnan(tol) | (tol >= 0), tol, "tolerance", "must be >= 0")
    is_range = pol == Polarity.RANGE
    _require(~is_range | ~(lo > hi), lo, "lower", "must not be above upper")
    has_baseline = ~np.isnan(b_)
    with np.errstate(all="ignore"):
        b0 = np.where(has_baseline, b_, 0.0)
        increase = np.where(t_ == b0, np.where(a_ >= t_, 1.0, 0.0), (a_ - b0) / (t_ - b0))
        with_baseline = np.where(t_ == b_, np.where(a_ <= t_, 1.0, 0.0), (b_ - a_) / (b_ - t_))
        without_baseline = np.where(a_ > 0, t_ / a_, c)
        decrease = np.where(has_baseline, with_baseline, without_baseline)
        in_range = _range_attainment(a_, lo, hi, tol)
    result = np.choose(pol, [increase, decrease, in_range])
    undefined = np.isnan(a_) | np.where(is_range, np.isnan(lo) | np.isnan(hi), np.isnan(t_))
    return np.where(undefined, np.nan, result)


def score(a: Any, cap: Any = DEFAULT_CAP) -> np.ndarray:
    """Score s = clamp(a, 0, cap) (§4). NaN a -> NaN. ValueError unless 0 <= cap <= 2 (validated here)."""
    return np.clip(_floats(a), 0.0, _checked_cap(cap))


# --- §5 Status -------------------------------------------------------------------------------


class Health(NamedTuple):
    x: np.ndarray  # float64 health value, NaN when undefined
    status: np.ndarray  # int8 Status codes


def status_from_health(x: Any, on_track: Any = DEFAULT_ON_TRACK, at_risk: Any = DEFAULT_AT_RISK) -> np.ndarray:
    """on_track when x >= on_track, at_risk when at_risk <= x < on_track, off_track below; NaN -> no_data."""
    x = _floats(x)
    status = np.where(x >= _floats(on_track), Status.ON_TRACK,
                      np.where(x >= _floats(at_risk), Status.AT_RISK, Status.OFF_TRACK))
    return np.where(np.isnan(x), Status.NO_DATA, status).astype(np.int8)


def default_tracking(aggregation: Any) -> np.ndarray:
    """Tracking when a measure sets none (§2): linear for sum and count, steady otherwise."""
    kind = _codes(aggregation, Aggregation, "aggregation")
    linear = (kind == Aggregation.SUM) | (kind == Aggregation.COUNT)
    return np.where(linear, Tracking.LINEAR, Tracking.STEADY).astype(np.int64)


def _tracking(tracking: Any, aggregation: Any) -> np.ndarray:
    """Tracking codes; None, "" or a negative code (for all, or per measure) means the default (§2)."""
    if tracking is None:
        return default_tracking(aggregation)
    array = np.asarray(tracking)
    if array.dtype.kind in "UOS":
        array = array.astype(object)
        unset = np.equal(array, None) | (array == "")
        codes = _codes(np.where(unset, Tracking.STEADY.slug, array), Tracking, "tracking")
    elif array.dtype.kind in "iu":
        unset = array < 0
        codes = _codes(np.where(unset, 0, array), Tracking, "tracking")
    else:
        return _codes(array, Tracking, "tracking")
    return np.where(unset, default_tracking(aggregation), codes)


def health_and_status(
    a: Any,
    tracking: Any,
    f: Any,
    closed: Any,
    on_track: Any = DEFAULT_ON_TRACK,
    at_risk: Any = DEFAULT_AT_RISK,
) -> Health:
    """Health x and status (§5).

    x = a when the period is closed or tracking is steady; x = a / f for an open
    period with linear tracking (undefined when f = 0). An open linear measure is
    pending while f < 0.1 unless x >= on_track (so always when f = 0). The status is
    no_data when a is NaN (no actual, or an incomplete target). Only `a` may be NaN.
    """
    a, f = _floats(a), _floats(f)
    linear_open = (_codes(tracking, Tracking, "tracking") == Tracking.LINEAR) & ~np.asarray(closed, dtype=bool)
    with np.errstate(all="ignore"):
        paced = np.where(f > 0, a / f, np.nan)
    x = np.where(linear_open, paced, a)
    on_track = _floats(on_track)
    status = status_from_health(x, on_track, at_risk)
    grace = linear_open & (f < GRACE_FRACTION) & ~(x >= on_track)
    status = np.where(grace, Status.PENDING, status)
    status = np.where(np.isnan(a), Status.NO_DATA, status).astype(np.int8)
    return Health(x, status)


# --- §6 Forecast -----------------------------------------------------------------------------


def forecast(
    aggregation: Any,
    actual: Any,
    f: Any,
    closed: Any,
    aggregates: Aggregates,
    period_length: Any,
) -> np.ndarray:
    """The forecast end-of-period actual A_end (§6); NaN when the actual is NaN.

    sum, count: run rate A / f (NaN when f = 0). last, mean, min, max: the
    least-squares line through the observations (t, value), t in seconds since the
    period start, evaluated at t = period_length (seconds); A when there are fewer
    than two observations or no spread in t. ratio: A. A closed period's forecast
    is its actual.
    """
    kind = _codes(aggregation, Aggregation, "aggregation")
    actual, f, length = _floats(actual), _floats(f), _floats(period_length)
    agg = aggregates
    n, st, stt, sy, sty = agg.n, agg.sum_t, agg.sum_tt, agg.sum, agg.sum_ty
    with np.errstate(all="ignore"):
        run_rate = np.where(f > 0, actual / f, np.nan)
        spread = n * stt - st * st  # n² times the variance of t
        fits = (n >= 2) & (spread > LEAST_SQUARES_MIN_SPREAD * n * stt)
        slope = (n * sty - st * sy) / spread
        intercept = (sy - slope * st) / n
        line = np.where(fits, intercept + slope * length, actual)
    by_kind = {
        Aggregation.LAST: line,
        Aggregation.SUM: run_rate,
        Aggregation.MEAN: line,
        Aggregation.MIN: line,
        Aggregation.MAX: line,
        Aggregation.COUNT: run_rate,
        Aggregation.RATIO: actual,
    }
    end = np.choose(kind, [by_kind[member] for member in Aggregation])
    end = np.where(np.asarray(closed, dtype=bool), actual, end)
    return np.where(np.isnan(actual), np.nan, end)


def forecast_status(a_end: Any, on_track: Any = DEFAULT_ON_TRACK, at_risk: Any = DEFAULT_AT_RISK) -> np.ndarray:
    """Forecast status: §5 on the forecast attainment as if the period were closed (x = a; NaN -> no_data)."""
    return status_from_health(a_end, on_track, at_risk)


# --- Measures in one call --------------------------------------------------------------------


@dataclass(frozen=True)
class Leaves:
    """What a roll-up reads from a child that is not itself a node: score s, health x, status, cap c.

    One element per leaf (a measure, later an SLO); `cap` may be a scalar. s and x are
    NaN where undefined (no_data; x also for pending).
    """

    score: np.ndarray
    health: np.ndarray
    status: np.ndarray
    cap: np.ndarray | float = DEFAULT_CAP

    def __post_init__(self):
        status = np.array(_codes(self.status, Status, "status"), dtype=np.int8, ndmin=1)
        size = len(status)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "score", np.array(np.broadcast_to(_floats(self.score), (size,))))
        object.__setattr__(self, "health", np.array(np.broadcast_to(_floats(self.health), (size,))))
        object.__setattr__(self, "cap", np.array(np.broadcast_to(_checked_cap(self.cap), (size,))))

    def __len__(self) -> int:
        return len(self.status)

    @classmethod
    def concat(cls, *parts: Leaves) -> Leaves:
        """Leaves of several kinds (measures, later SLOs) in one index space, in the given order."""
        return cls(*(np.concatenate([getattr(part, field.name) for part in parts]) for field in fields(cls)))


@dataclass(frozen=True)
class MeasureScores:
    """Everything §1-6 say about each measure; one element per measure."""

    elapsed: np.ndarray  # f
    closed: np.ndarray  # bool
    actual: np.ndarray  # A, NaN = undefined
    attainment: np.ndarray  # a, not clipped
    score: np.ndarray  # s = clamp(a, 0, c)
    health: np.ndarray  # x, NaN = undefined
    status: np.ndarray  # int8 Status codes
    forecast: np.ndarray  # A_end
    forecast_attainment: np.ndarray
    forecast_status: np.ndarray  # int8 Status codes
    cap: np.ndarray  # c, as given (for the roll-up's clamp of x)

    def leaves(self) -> Leaves:
        return Leaves(self.score, self.health, self.status, self.cap)


def evaluate_measures(
    aggregates: Aggregates,
    *,
    aggregation: Any,
    polarity: Any,
    start: Any,
    end: Any,
    t: Any,
    target: Any = None,
    baseline: Any = None,
    lower: Any = None,
    upper: Any = None,
    tolerance: Any = None,
    cap: Any = DEFAULT_CAP,
    on_track: Any = DEFAULT_ON_TRACK,
    at_risk: Any = DEFAULT_AT_RISK,
    tracking: Any = None,
) -> MeasureScores:
    """§1-6 for many measures at once, as of the instant t (epoch seconds).

    `aggregates` must cover [start, min(end, t)) of each measure's period. `start`,
    `end` are the period bounds in epoch seconds. `tracking` None (or "" / a negative
    code per measure) means the default for the aggregation. NaN rules as in
    `attainment`.
    """
    size = len(aggregates)

    def column(values: Any) -> np.ndarray:
        return np.broadcast_to(values, (size,))

    start, end = column(_floats(start)), column(_floats(end))
    t = column(_floats(t))
    kind = column(_codes(aggregation, Aggregation, "aggregation"))
    track = column(_tracking(tracking, kind))
    cap = column(_checked_cap(cap))
    on_track, at_risk = column(_floats(on_track)), column(_floats(at_risk))
    targets = {"polarity": column(_codes(polarity, Polarity, "polarity")), "target": target, "baseline": baseline,
               "lower": lower, "upper": upper, "tolerance": tolerance, "cap": cap}

    f = elapsed_fraction(start, end, t)
    closed = is_closed(end, t)
    actual = period_actual(kind, aggregates)
    a = column(attainment(actual, **targets))
    health = health_and_status(a, track, f, closed, on_track, at_risk)
    a_end = forecast(kind, actual, f, closed, aggregates, end - start)
    a_end_attainment = column(attainment(a_end, **targets))
    return MeasureScores(
        elapsed=f,
        closed=closed,
        actual=actual,
        attainment=a,
        score=score(a, cap),
        health=column(health.x),
        status=column(health.status),
        forecast=a_end,
        forecast_attainment=a_end_attainment,
        forecast_status=forecast_status(a_end_attainment, on_track, at_risk),
        cap=np.array(cap),
    )


# --- §7 Roll-up ------------------------------------------------------------------------------


class RollUp(NamedTuple):
    """Per node: progress S (its score at the next level), health H (its x) and status (int8 codes)."""

    progress: np.ndarray
    health: np.ndarray
    status: np.ndarray


def roll_up(
    parent: Any,
    n_parents: int,
    *,
    weight: Any,
    score: Any,
    health: Any,
    status: Any,
    cap: Any = DEFAULT_CAP,
    on_track: Any = DEFAULT_ON_TRACK,
    at_risk: Any = DEFAULT_AT_RISK,
    status_rule: Any = StatusRule.WEIGHTED,
) -> RollUp:
    """One level of §7: children (one element each) -> their parents 0..n_parents-1.

    Per child: parent index, weight w >= 0, score s, health x, status, cap c (0..2).
    Per parent (arrays of n_parents, or scalars): on_track, at_risk, status_rule.
    A child counts when its status is not no_data and its weight is > 0; a parent
    without counted children is no_data (S and H NaN). S = Σ w·s / Σ w;
    H = Σ w·clamp(x, 0, c) / Σ w with x = 1 for pending children; status from H
    and the thresholds, or under status_rule worst the worst counted child status
    (pending counts as on_track). s and x may be NaN only for no_data children (x
    also for pending ones).
    """
    parent = np.asarray(parent, dtype=np.intp)
    if parent.ndim != 1:
        raise ValueError("parent: must be one-dimensional")
    size = len(parent)

    def column(values: Any) -> np.ndarray:
        return np.broadcast_to(values, (size,))

    _require((parent >= 0) & (parent < n_parents), parent, "parent", f"must be within [0, {n_parents})")
    w = column(_floats(weight))
    _require(np.isfinite(w) & (w >= 0), w, "weight", "must be a finite number >= 0")
    child_status = column(_codes(status, Status, "status"))
    c = column(_checked_cap(cap))
    s, x = column(_floats(score)), column(_floats(health))

    counted = (child_status != Status.NO_DATA) & (w > 0)
    pending = child_status == Status.PENDING
    x = np.clip(np.where(pending, 1.0, x), 0.0, c)
    total = np.bincount(parent, weights=np.where(counted, w, 0.0), minlength=n_parents)
    weighted_s = np.bincount(parent, weights=np.where(counted, w * s, 0.0), minlength=n_parents)
    weighted_x = np.bincount(parent, weights=np.where(counted, w * x, 0.0), minlength=n_parents)
    has = total > 0
    with np.errstate(all="ignore"):
        progress = np.where(has, weighted_s / total, np.nan)
        node_health = np.where(has, weighted_x / total, np.nan)

    node_status = status_from_health(node_health, on_track, at_risk)
    rule = np.broadcast_to(_codes(status_rule, StatusRule, "status_rule"), (n_parents,))
    if (rule == StatusRule.WORST).any():
        off = np.bincount(parent, weights=counted & (child_status == Status.OFF_TRACK), minlength=n_parents) > 0
        risk = np.bincount(parent, weights=counted & (child_status == Status.AT_RISK), minlength=n_parents) > 0
        worst = np.where(off, Status.OFF_TRACK, np.where(risk, Status.AT_RISK, Status.ON_TRACK))
        node_status = np.where((rule == StatusRule.WORST) & has, worst, node_status).astype(np.int8)
    return RollUp(progress, node_health, node_status)


@dataclass(frozen=True)
class Edges:
    """Weighted child -> parent links: child[i] counts in parent[i] with weight[i]."""

    child: np.ndarray
    parent: np.ndarray
    weight: np.ndarray

    def __post_init__(self):
        child = np.array(self.child, dtype=np.intp, ndmin=1)
        parent = np.array(self.parent, dtype=np.intp, ndmin=1)
        weight = np.broadcast_to(np.array(self.weight, dtype=np.float64), child.shape)
        if child.shape != parent.shape or child.ndim != 1:
            raise ValueError("edges: child and parent must be one-dimensional and of the same length")
        object.__setattr__(self, "child", child)
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "weight", weight)

    def __len__(self) -> int:
        return len(self.child)

    @classmethod
    def none(cls) -> Edges:
        return cls(child=np.zeros(0, dtype=np.intp), parent=np.zeros(0, dtype=np.intp), weight=np.zeros(0))


def _node_heights(n_nodes: int, edges: Edges) -> np.ndarray:
    """Height of each node: 0 when none of its children is a node, else 1 + its highest node child's."""
    height = np.zeros(n_nodes, dtype=np.int64)
    if len(edges) == 0:
        return height
    for _ in range(n_nodes + 1):
        higher = np.zeros(n_nodes, dtype=np.int64)
        np.maximum.at(higher, edges.parent, height[edges.child] + 1)
        if np.array_equal(higher, height):
            return height
        height = higher
    raise ValueError("node_edges: the nodes form a cycle")


def roll_up_tree(
    n_nodes: int,
    *,
    leaves: Leaves,
    leaf_edges: Edges,
    node_edges: Edges | None = None,
    on_track: Any = DEFAULT_ON_TRACK,
    at_risk: Any = DEFAULT_AT_RISK,
    status_rule: Any = StatusRule.WEIGHTED,
) -> RollUp:
    """§7 over a whole hierarchy, bottom-up; returns S, H, status for nodes 0..n_nodes-1.

    Nodes (objectives, perspectives per subject, scorecards) share one index space.
    `leaf_edges` link leaves (indices into `leaves`, e.g. measures behind key
    results) to nodes; `node_edges` link child nodes to parent nodes (a rolls_up
    objective to its parent objective, an objective to its perspective, a
    perspective to its scorecard). Nodes are rolled up in order of height, so
    objectives may nest to any depth; a node's S, H and status feed its parents
    exactly as a leaf's s, x and status do, with cap 2 (a no-op: H never exceeds
    its children's caps). on_track, at_risk and status_rule are per node (or
    scalars). ValueError when the node edges form a cycle or an index is out of range.
    """
    node_edges = Edges.none() if node_edges is None else node_edges
    _require((leaf_edges.child >= 0) & (leaf_edges.child < len(leaves)), leaf_edges.child, "leaf_edges.child",
             f"must be within [0, {len(leaves)})")
    for name, edges in (("leaf_edges", leaf_edges), ("node_edges", node_edges)):
        _require((edges.parent >= 0) & (edges.parent < n_nodes), edges.parent, f"{name}.parent",
                 f"must be within [0, {n_nodes})")
    _require((node_edges.child >= 0) & (node_edges.child < n_nodes), node_edges.child, "node_edges.child",
             f"must be within [0, {n_nodes})")
    on_track = np.broadcast_to(_floats(on_track), (n_nodes,))
    at_risk = np.broadcast_to(_floats(at_risk), (n_nodes,))
    rule = np.broadcast_to(_codes(status_rule, StatusRule, "status_rule"), (n_nodes,))

    height = _node_heights(n_nodes, node_edges)
    progress = np.full(n_nodes, np.nan)
    health = np.full(n_nodes, np.nan)
    status = np.full(n_nodes, Status.NO_DATA, dtype=np.int8)
    leaf_level = height[leaf_edges.parent]
    node_level = height[node_edges.parent]
    local = np.full(n_nodes, -1, dtype=np.intp)
    for level in range(int(height.max(initial=0)) + 1):
        nodes = np.flatnonzero(height == level)
        local[nodes] = np.arange(len(nodes))
        from_leaves = leaf_level == level
        from_nodes = node_level == level
        leaf_child = leaf_edges.child[from_leaves]
        node_child = node_edges.child[from_nodes]
        result = roll_up(
            local[np.concatenate([leaf_edges.parent[from_leaves], node_edges.parent[from_nodes]])],
            len(nodes),
            weight=np.concatenate([leaf_edges.weight[from_leaves], node_edges.weight[from_nodes]]),
            score=np.concatenate([leaves.score[leaf_child], progress[node_child]]),
            health=np.concatenate([leaves.health[leaf_child], health[node_child]]),
            status=np.concatenate([leaves.status[leaf_child], status[node_child]]),
            cap=np.concatenate([leaves.cap[leaf_child], np.full(len(node_child), MAX_CAP)]),
            on_track=on_track[nodes],
            at_risk=at_risk[nodes],
            status_rule=rule[nodes],
        )
        progress[nodes], health[nodes], status[nodes] = result
    return RollUp(progress, health, status)
