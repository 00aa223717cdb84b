"""Properties of the scoring engine that hold for any input (hypothesis)."""

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from northstar.scoring.engine import (
    Aggregates,
    Aggregation,
    Status,
    StatusRule,
    attainment,
    elapsed_fraction,
    evaluate_measures,
    forecast,
    health_and_status,
    period_actual,
    roll_up,
    score,
    status_from_health,
)

settings.register_profile("engine", deadline=None, max_examples=150)
settings.load_profile("engine")

PERIOD = 90 * 86400.0
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
caps = st.floats(min_value=0.0, max_value=2.0)
unit = st.floats(min_value=0.0, max_value=1.0)
counted_status = st.sampled_from([Status.OFF_TRACK, Status.AT_RISK, Status.ON_TRACK])
any_status = st.sampled_from(list(Status))


@st.composite
def thresholds(draw):
    at_risk = draw(st.floats(min_value=0.0, max_value=1.5))
    on_track = draw(st.floats(min_value=at_risk, max_value=2.0))
    return on_track, at_risk


# --- §4 ---------------------------------------------------------------------------------------


@given(a=st.lists(st.floats(allow_nan=False), min_size=1, max_size=20), cap=caps)
def test_score_is_always_within_zero_and_the_cap(a, cap):
    s = score(a, cap)
    assert ((s >= 0) & (s <= cap)).all()


@given(a=st.lists(st.floats(allow_nan=False), min_size=1, max_size=20), cap=st.lists(caps, min_size=1, max_size=1))
def test_score_is_within_each_measures_cap(a, cap):
    caps_ = np.resize(cap, len(a))
    s = score(a, caps_)
    assert ((s >= 0) & (s <= caps_)).all()


@given(a1=values, a2=values, target=values, baseline=st.one_of(st.none(), values))
def test_increase_attainment_never_falls_as_the_actual_rises(a1, a2, target, baseline):
    b = 0.0 if baseline is None else baseline
    assume(target >= b)  # a target below the baseline is not an increase
    low, high = sorted([a1, a2])
    a_low, a_high = attainment([low, high], "increase", target, baseline)
    assert a_low <= a_high


@given(a1=values, a2=values, target=values, baseline=values)
def test_decrease_attainment_with_baseline_never_rises_as_the_actual_rises(a1, a2, target, baseline):
    assume(target <= baseline)
    low, high = sorted([a1, a2])
    a_low, a_high = attainment([low, high], "decrease", target, baseline)
    assert a_low >= a_high


@given(a1=positive, a2=positive, target=positive, cap=caps)
def test_decrease_attainment_without_baseline_never_rises_for_positive_actuals(a1, a2, target, cap):
    low, high = sorted([a1, a2])
    a_low, a_high = attainment([low, high], "decrease", target, cap=cap)
    assert a_low >= a_high


@given(a1=values, a2=values, target=positive, cap=caps)
def test_decrease_score_without_baseline_never_rises_as_the_actual_rises(a1, a2, target, cap):
    # Across A = 0 the attainment jumps from c (A <= 0) to T / A (large), but the score does not.
    low, high = sorted([a1, a2])
    s_low, s_high = score(attainment([low, high], "decrease", target, cap=cap), cap)
    assert s_low >= s_high


@given(a1=values, a2=values, lo=values, width=st.floats(min_value=0, max_value=1e6),
       tolerance=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)))
def test_range_attainment_rises_towards_the_range_and_is_one_inside(a1, a2, lo, width, tolerance):
    hi = lo + width
    low, high = sorted([a1, a2])
    a_low, a_high = attainment([low, high], "range", lower=lo, upper=hi, tolerance=tolerance)
    if high <= lo:
        assert a_low <= a_high
    if low >= hi:
        assert a_low >= a_high
    inside = attainment([lo, hi, (lo + hi) / 2], "range", lower=lo, upper=hi, tolerance=tolerance)
    assert inside.tolist() == [1.0, 1.0, 1.0]
    assert ((a_low >= 0) & (a_low <= 1)) and ((a_high >= 0) & (a_high <= 1))


# --- §5 ---------------------------------------------------------------------------------------


@given(x1=st.floats(allow_nan=False), x2=st.floats(allow_nan=False), limits=thresholds())
def test_status_order_follows_health(x1, x2, limits):
    on_track, at_risk = limits
    low, high = sorted([x1, x2])
    s_low, s_high = status_from_health([low, high], on_track, at_risk)
    assert s_low <= s_high
    for x, s in ((low, s_low), (high, s_high)):
        assert (s == Status.ON_TRACK) == (x >= on_track)
        assert (s == Status.AT_RISK) == (at_risk <= x < on_track)
        assert (s == Status.OFF_TRACK) == (x < at_risk)


@given(a=values, f=unit, closed=st.booleans(), tracking=st.sampled_from(["steady", "linear"]), limits=thresholds())
def test_pending_only_for_open_linear_measures_early_in_the_period(a, f, closed, tracking, limits):
    x, s = health_and_status([a], tracking, f, closed, *limits)
    if s[0] == Status.PENDING:
        assert tracking == "linear" and not closed and f < 0.1
    if closed or tracking == "steady":
        assert x[0] == a
    assert s[0] != Status.NO_DATA


@given(start=values, length=positive, t=st.floats(min_value=-1e7, max_value=1e7))
def test_elapsed_fraction_is_within_zero_and_one(start, length, t):
    f = elapsed_fraction(start, start + length, t)
    assert 0.0 <= f <= 1.0


# --- §3 and §6 --------------------------------------------------------------------------------

observation = st.tuples(
    st.floats(min_value=0.0, max_value=PERIOD, exclude_max=True),  # t, seconds since the period start
    values,
    st.floats(min_value=0.0, max_value=1e4),  # good
    st.floats(min_value=0.0, max_value=1e4),  # extra, so that total = good + extra
)


def reference_aggregates(observations):
    """Aggregates of observations listed in recording order, computed one by one."""
    n = len(observations)
    total = {"sum": 0.0, "sum_good": 0.0, "sum_total": 0.0, "sum_t": 0.0, "sum_tt": 0.0, "sum_ty": 0.0}
    low, high, last, last_t = np.nan, np.nan, np.nan, -np.inf
    for t, y, good, extra in observations:
        total["sum"] += y
        total["sum_good"] += good
        total["sum_total"] += good + extra
        total["sum_t"] += t
        total["sum_tt"] += t * t
        total["sum_ty"] += t * y
        low = y if np.isnan(low) else min(low, y)
        high = y if np.isnan(high) else max(high, y)
        if t >= last_t:  # ties: the one recorded last
            last, last_t = y, t
    return Aggregates(n=[n], min=[low], max=[high], last=[last], **{k: [v] for k, v in total.items()})


@given(observations=st.lists(observation, max_size=30), data=st.data())
def test_recording_order_changes_no_actual_but_last(observations, data):
    shuffled = data.draw(st.permutations(observations))
    before, after = reference_aggregates(observations), reference_aggregates(shuffled)
    scale = sum(abs(y) for _t, y, _g, _e in observations) + 1.0
    for kind in Aggregation:
        if kind == Aggregation.LAST:
            continue
        a_before, a_after = period_actual(kind, before), period_actual(kind, after)
        assert a_after == pytest.approx(a_before, rel=1e-9, abs=1e-12 * scale, nan_ok=True), kind
    if len({t for t, *_ in observations}) == len(observations):  # no ties in time: last is the latest
        assert np.array_equal(period_actual("last", after), period_actual("last", before), equal_nan=True)


@given(observations=st.lists(observation, min_size=2, max_size=30))
def test_least_squares_forecast_matches_polyfit(observations):
    t = np.array([o[0] for o in observations])
    y = np.array([o[1] for o in observations])
    assume(np.var(t) > 1e-6 * np.mean(t * t))
    slope, intercept = np.polyfit(t, y, 1)
    expected = intercept + slope * PERIOD
    end = forecast("mean", [y.mean()], 0.5, False, reference_aggregates(observations), PERIOD)
    scale = np.abs(y).max() * (1 + PERIOD / np.sqrt(np.var(t))) + 1.0
    assert end[0] == pytest.approx(expected, rel=1e-6, abs=1e-9 * scale)


# --- §7 ---------------------------------------------------------------------------------------


@given(
    s=st.floats(min_value=0.0, max_value=2.0),
    x=st.floats(min_value=0.0, max_value=2.0),
    cap=caps,
    weights=st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=8),
    limits=thresholds(),
    rule=st.sampled_from(list(StatusRule)),
)
def test_roll_up_of_identical_children_is_the_child(s, x, cap, weights, limits, rule):
    # A child whose s and x are within its cap (as a measure's s always is, and a node's x), not pending.
    s, x = min(s, cap), min(x, cap)
    on_track, at_risk = limits
    assume(all(abs(x - limit) > 1e-9 for limit in limits))  # S and H are equal to s and x up to rounding
    child_status = status_from_health([x], on_track, at_risk)[0]
    k = len(weights)
    result = roll_up(np.zeros(k, dtype=int), 1, weight=weights, score=np.full(k, s), health=np.full(k, x),
                     status=np.full(k, child_status), cap=cap, on_track=on_track, at_risk=at_risk, status_rule=rule)
    assert result.progress[0] == pytest.approx(s, rel=1e-12, abs=1e-15)
    assert result.health[0] == pytest.approx(x, rel=1e-12, abs=1e-15)
    assert result.status[0] == child_status


children = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4),  # parent
        st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e3)),  # weight
        st.floats(min_value=0.0, max_value=2.0),  # s
        st.floats(min_value=-5.0, max_value=5.0),  # x
        any_status,
        caps,
    ),
    max_size=40,
)


def child_arrays(kids):
    parent, weight, s, x, status, cap = (np.array(column) for column in zip(*kids, strict=True)) if kids else (
        np.zeros(0, dtype=int), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=int), np.zeros(0))
    s = np.minimum(s, cap)
    s = np.where(status == Status.NO_DATA, np.nan, s)
    x = np.where((status == Status.NO_DATA) | (status == Status.PENDING), np.nan, x)
    return parent, weight, s, x, status, cap


@given(kids=children, limits=thresholds(), rule=st.sampled_from(list(StatusRule)))
def test_roll_up_matches_the_rule_parent_by_parent(kids, limits, rule):
    parent, weight, s, x, status, cap = child_arrays(kids)
    on_track, at_risk = limits
    result = roll_up(parent, 5, weight=weight, score=s, health=x, status=status, cap=cap, on_track=on_track,
                     at_risk=at_risk, status_rule=rule)
    counted = defaultdict(list)
    for i in range(len(parent)):
        if status[i] != Status.NO_DATA and weight[i] > 0:
            health = 1.0 if status[i] == Status.PENDING else x[i]
            counted[parent[i]].append((weight[i], s[i], min(max(health, 0.0), cap[i]), status[i]))
    for p in range(5):
        if not counted[p]:
            assert np.isnan(result.progress[p]) and np.isnan(result.health[p])
            assert result.status[p] == Status.NO_DATA
            continue
        w = np.array([c[0] for c in counted[p]])
        s_i = np.array([c[1] for c in counted[p]])
        x_i = np.array([c[2] for c in counted[p]])
        # progress and health are weighted means, so within the counted children's bounds
        assert s_i.min() - 1e-12 <= result.progress[p] <= s_i.max() + 1e-12
        assert x_i.min() - 1e-12 <= result.health[p] <= x_i.max() + 1e-12
        assert result.progress[p] == pytest.approx((w * s_i).sum() / w.sum(), rel=1e-12, abs=1e-15)
        assert result.health[p] == pytest.approx((w * x_i).sum() / w.sum(), rel=1e-12, abs=1e-15)
        if rule == StatusRule.WORST:
            ranks = [Status.ON_TRACK if c[3] == Status.PENDING else c[3] for c in counted[p]]
            assert result.status[p] == min(ranks)
        else:
            h = result.health[p]
            assert result.status[p] == (Status.ON_TRACK if h >= on_track else
                                        Status.AT_RISK if h >= at_risk else Status.OFF_TRACK)


# --- Vectorisation ----------------------------------------------------------------------------

measure = st.fixed_dictionaries({
    "aggregation": st.sampled_from([kind.slug for kind in Aggregation]),
    "polarity": st.sampled_from(["increase", "decrease", "range"]),
    "target": values, "baseline": st.one_of(st.just(np.nan), values),
    "lower": values, "width": st.floats(min_value=0, max_value=1e3),
    "tolerance": st.one_of(st.just(np.nan), st.floats(min_value=0, max_value=1e3)),
    "cap": caps, "t": st.floats(min_value=-10.0, max_value=PERIOD * 1.5),
    "observations": st.lists(observation, max_size=5),
})


@given(rows=st.lists(measure, min_size=1, max_size=12))
def test_a_batch_gives_each_measure_what_it_gets_alone(rows):
    def run(selected):
        aggregates = [reference_aggregates(row["observations"]) for row in selected]
        joined = Aggregates(**{name: np.concatenate([getattr(a, name) for a in aggregates])
                               for name in ("n", "sum", "min", "max", "last", "sum_good", "sum_total", "sum_t",
                                            "sum_tt", "sum_ty")})
        column = {name: [row[name] for row in selected] for name in
                  ("aggregation", "polarity", "target", "baseline", "lower", "tolerance", "cap", "t")}
        column["upper"] = [row["lower"] + row["width"] for row in selected]
        return evaluate_measures(joined, start=0.0, end=PERIOD, **column)

    together = run(rows)
    for i, row in enumerate(rows):
        alone = run([row])
        for name in ("actual", "attainment", "score", "health", "status", "forecast", "forecast_attainment",
                     "forecast_status"):
            assert np.array_equal(getattr(together, name)[i:i + 1], getattr(alone, name), equal_nan=True), name
        assert 0.0 <= together.score[i] <= row["cap"] or np.isnan(together.score[i])
