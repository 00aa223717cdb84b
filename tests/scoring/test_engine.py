"""The scoring engine against shared/SCORING.md sections 1-7.

Expected values are worked out by hand from the specification (the arithmetic is in
the comments), never by calling the function under test.
"""

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from northstar.scoring import engine
from northstar.scoring.engine import (
    Aggregates,
    Aggregation,
    Edges,
    Leaves,
    Polarity,
    Status,
    StatusRule,
    Tracking,
    attainment,
    default_tracking,
    elapsed_fraction,
    evaluate_measures,
    forecast,
    forecast_status,
    health_and_status,
    is_closed,
    period_actual,
    roll_up,
    roll_up_tree,
    score,
    status_from_health,
    status_slugs,
    to_epoch_seconds,
)

NAN = np.nan
DAY = 86400.0


def approx(values, rel=1e-12):
    return pytest.approx(np.asarray(values, dtype=float), rel=rel, abs=1e-12, nan_ok=True)


def statuses(*names):
    return [Status[name.upper()] for name in names]


# --- Purity -----------------------------------------------------------------------------------


def test_engine_imports_only_numpy_and_the_standard_library():
    package = Path(engine.__file__).parent
    for path in (package / "engine.py", package / "__init__.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported <= {"__future__", "enum", "collections", "dataclasses", "datetime", "typing", "numpy"}, path


# --- Codes ------------------------------------------------------------------------------------


def test_status_codes_map_to_the_stored_strings():
    assert status_slugs([0, 1, 2, 3, 4]).tolist() == ["no_data", "pending", "off_track", "at_risk", "on_track"]
    assert Status.OFF_TRACK < Status.AT_RISK < Status.ON_TRACK
    assert Status.AT_RISK.slug == "at_risk"
    assert engine.STATUS_SLUGS[Status.PENDING] == "pending"


def test_categorical_inputs_accept_names_codes_and_members():
    by_name = attainment([15.0, 15.0], ["increase", "decrease"], 20.0, 10.0)
    by_code = attainment([15.0, 15.0], [0, 1], 20.0, 10.0)
    by_member = attainment([15.0, 15.0], [Polarity.INCREASE, Polarity.DECREASE], 20.0, 10.0)
    # increase: (15 - 10) / (20 - 10) = 0.5; decrease: (10 - 15) / (10 - 20) = 0.5
    assert by_name.tolist() == by_code.tolist() == by_member.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("polarity", ["upwards", 3, -1])
def test_unknown_polarity_is_rejected_with_the_field_named(polarity):
    with pytest.raises(ValueError, match="polarity"):
        attainment([1.0], [polarity], 2.0)


def test_missing_name_in_a_list_of_names_is_rejected():
    with pytest.raises(ValueError, match="aggregation"):
        period_actual(["sum", None], Aggregates(n=[1, 1], sum=[1, 1]))


# --- §1 Periods -------------------------------------------------------------------------------


def test_elapsed_fraction_is_clamped_to_zero_and_one():
    f = elapsed_fraction(100.0, 200.0, np.array([50.0, 100.0, 125.0, 200.0, 500.0]))
    assert f.tolist() == [0.0, 0.0, 0.25, 1.0, 1.0]


def test_elapsed_fraction_per_measure_periods():
    f = elapsed_fraction([0.0, 10 * DAY], [10 * DAY, 30 * DAY], 15 * DAY)
    assert f.tolist() == [1.0, 0.25]  # (15 - 10) / (30 - 10)


def test_period_must_end_after_it_starts():
    with pytest.raises(ValueError, match="end must be after start; row 1"):
        elapsed_fraction([0.0, 5.0], [1.0, 5.0], 0.0)


def test_period_is_closed_from_its_end_on():
    assert is_closed(200.0, [199.999, 200.0, 201.0]).tolist() == [False, True, True]


# --- §3 Period actual -------------------------------------------------------------------------

THREE = Aggregates(n=[3], sum=[30.0], min=[4.0], max=[16.0], last=[10.0], sum_good=[45.0], sum_total=[50.0])


@pytest.mark.parametrize(("aggregation", "expected"), [
    ("last", 10.0), ("sum", 30.0), ("mean", 10.0), ("min", 4.0), ("max", 16.0), ("count", 3.0), ("ratio", 0.9),
])
def test_period_actual_per_aggregation(aggregation, expected):
    assert period_actual(aggregation, THREE).tolist() == [expected]


@pytest.mark.parametrize("aggregation", list(Aggregation))
def test_no_observations_means_no_actual_for_every_aggregation(aggregation):
    assert np.isnan(period_actual(aggregation, Aggregates.empty(1))).all()


def test_ratio_with_zero_total_is_undefined():
    aggregates = Aggregates(n=[2, 2], sum_good=[0.0, 3.0], sum_total=[0.0, 4.0])
    assert period_actual("ratio", aggregates) == approx([NAN, 0.75])


def test_period_actual_mixes_aggregations_per_measure():
    aggregates = Aggregates(n=[2, 4, 0], sum=[7.0, 10.0, 0.0], last=[3.0, 1.0, NAN])
    assert period_actual(["last", "mean", "count"], aggregates) == approx([3.0, 2.5, NAN])


def test_aggregates_from_records_reads_measure_aggregate_fields():
    aggregates = Aggregates.from_records([
        {"n": 2, "sum": 5.0, "min": 1.0, "max": 4.0, "last_value": 4.0, "sum_t": 3.0, "sum_tt": 5.0, "sum_ty": 14.0},
        None,
        {"n": 1, "sum_good": 9.0, "sum_total": 10.0, "min": None},
    ])
    assert aggregates.n.tolist() == [2.0, 0.0, 1.0]
    assert aggregates.last == approx([4.0, NAN, NAN])
    assert aggregates.min == approx([1.0, NAN, NAN])
    assert aggregates.sum.tolist() == [5.0, 0.0, 0.0]
    assert aggregates.sum_total.tolist() == [0.0, 0.0, 10.0]
    assert period_actual(["last", "sum", "ratio"], aggregates) == approx([4.0, NAN, 0.9])


def test_aggregates_columns_must_have_one_row_per_measure():
    with pytest.raises(ValueError, match="aggregates.sum: 1 rows, expected 2"):
        Aggregates(n=[1, 2], sum=[1.0])
    with pytest.raises(ValueError, match="aggregates.n must be >= 0"):
        Aggregates(n=[-1])


def test_aggregates_keep_no_reference_to_the_callers_arrays():
    n = np.array([1.0])
    aggregates = Aggregates(n=n, sum=[2.0])
    n[0] = 0.0
    assert aggregates.n.tolist() == [1.0]


# --- §4 Attainment ----------------------------------------------------------------------------


def test_increase_with_baseline():
    # b = 10, T = 20: (15 - 10) / 10 = 0.5; (25 - 10) / 10 = 1.5 (not clipped); (5 - 10) / 10 = -0.5
    assert attainment([15.0, 25.0, 5.0, 10.0], "increase", 20.0, 10.0) == approx([0.5, 1.5, -0.5, 0.0])


def test_increase_without_baseline_counts_from_zero():
    # b = 0, T = 20: 15 / 20 = 0.75
    assert attainment([15.0, -4.0], "increase", 20.0) == approx([0.75, -0.2])
    assert attainment([15.0], "increase", 20.0, NAN) == approx([0.75])


def test_increase_target_equal_to_baseline_is_reached_or_not():
    # T = b = 10: 1 when A >= 10, else 0
    assert attainment([10.0, 11.0, 9.99], "increase", 10.0, 10.0).tolist() == [1.0, 1.0, 0.0]


def test_increase_zero_target_without_baseline_is_target_equal_to_baseline():
    # b defaults to 0, so T = 0 = b
    assert attainment([0.0, 3.0, -1.0], "increase", 0.0).tolist() == [1.0, 1.0, 0.0]


def test_decrease_with_baseline():
    # b = 100, T = 50: (100 - 75) / 50 = 0.5; (100 - 40) / 50 = 1.2; (100 - 120) / 50 = -0.4
    assert attainment([75.0, 40.0, 120.0], "decrease", 50.0, 100.0) == approx([0.5, 1.2, -0.4])


def test_decrease_target_equal_to_baseline_is_reached_or_not():
    # T = b = 50: 1 when A <= 50, else 0
    assert attainment([50.0, 49.0, 50.01], "decrease", 50.0, 50.0).tolist() == [1.0, 1.0, 0.0]


def test_decrease_without_baseline_is_target_over_actual():
    # T = 10: 10 / 20 = 0.5; 10 / 5 = 2.0 (not clipped); 10 / 10 = 1
    assert attainment([20.0, 5.0, 10.0], "decrease", 10.0) == approx([0.5, 2.0, 1.0])


@pytest.mark.parametrize("cap", [1.0, 1.5, 0.5])
def test_decrease_without_baseline_at_or_below_zero_is_the_cap(cap):
    assert attainment([0.0, -3.0], "decrease", 10.0, cap=cap).tolist() == [cap, cap]


def test_decrease_without_baseline_cap_per_measure():
    assert attainment([0.0, 0.0], "decrease", 10.0, cap=[1.0, 2.0]).tolist() == [1.0, 2.0]


def test_range_inside_is_one_including_the_bounds():
    assert attainment([4.0, 7.0, 10.0], "range", lower=4.0, upper=10.0).tolist() == [1.0, 1.0, 1.0]


def test_range_below_and_above_with_default_tolerance_hi_minus_lo():
    # lo = 4, hi = 10, tol = 6: below by 3 -> 1 - 3/6 = 0.5; above by 1.5 -> 0.75; above by 6 -> 0; by 9 -> 0
    a = attainment([1.0, 11.5, 16.0, 19.0], "range", lower=4.0, upper=10.0)
    assert a == approx([0.5, 0.75, 0.0, 0.0])


def test_range_with_explicit_tolerance():
    # tol = 2: above by 1 -> 0.5; below by 0.5 -> 0.75
    assert attainment([11.0, 3.5], "range", lower=4.0, upper=10.0, tolerance=2.0) == approx([0.5, 0.75])


def test_range_point_target_tolerance_is_a_tenth_of_the_bound():
    # lo = hi = 5 -> tol = 0.1 * |5| = 0.5: off by 0.25 -> 0.5; lo = hi = -20 -> tol 2: off by 1 -> 0.5
    assert attainment([5.25, 4.75, 5.0], "range", lower=5.0, upper=5.0) == approx([0.5, 0.5, 1.0])
    assert attainment([-21.0], "range", lower=-20.0, upper=-20.0) == approx([0.5])


def test_range_point_target_at_zero_tolerance_is_one():
    # lo = hi = 0 -> 0.1 * 0 = 0 -> tol = 1: off by 0.25 -> 0.75; off by 2 -> 0
    assert attainment([0.25, -0.25, -2.0, 0.0], "range", lower=0.0, upper=0.0) == approx([0.75, 0.75, 0.0, 1.0])


def test_range_explicit_zero_tolerance_makes_the_bounds_hard():
    a = attainment([10.0001, 3.9, 7.0], "range", lower=4.0, upper=10.0, tolerance=0.0)
    assert a.tolist() == [0.0, 0.0, 1.0]


def test_each_polarity_per_measure_in_one_call():
    a = attainment(
        [15.0, 75.0, 20.0, 11.0],
        ["increase", "decrease", "decrease", "range"],
        target=[20.0, 50.0, 10.0, NAN],
        baseline=[10.0, 100.0, NAN, NAN],
        lower=[NAN, NAN, NAN, 4.0],
        upper=[NAN, NAN, NAN, 10.0],
    )
    assert a == approx([0.5, 0.5, 0.5, 1 - 1 / 6])


def test_undefined_actual_gives_undefined_attainment_for_every_polarity():
    a = attainment([NAN, NAN, NAN, NAN], ["increase", "decrease", "decrease", "range"],
                   target=[10.0, 10.0, 10.0, NAN], baseline=[NAN, 20.0, NAN, NAN], lower=4.0, upper=10.0)
    assert np.isnan(a).all()


def test_missing_target_or_bounds_give_undefined_attainment():
    # The decrease-without-baseline row would otherwise be a = c (A <= 0).
    a = attainment([5.0, 0.0, 5.0, 5.0], ["increase", "decrease", "range", "range"],
                   target=NAN, lower=[NAN, NAN, NAN, 1.0], upper=[NAN, NAN, 9.0, NAN])
    assert np.isnan(a).all()


def test_range_ignores_target_and_other_polarities_ignore_bounds():
    assert attainment([5.0], "range", target=NAN, lower=4.0, upper=6.0).tolist() == [1.0]
    assert attainment([5.0], "increase", target=10.0, lower=NAN, upper=NAN).tolist() == [0.5]


def test_negative_tolerance_is_rejected():
    with pytest.raises(ValueError, match="tolerance must be >= 0; row 1"):
        attainment([5.0, 5.0], "range", lower=1.0, upper=2.0, tolerance=[1.0, -1.0])


def test_range_lower_above_upper_is_rejected():
    with pytest.raises(ValueError, match="lower must not be above upper"):
        attainment([5.0], "range", lower=3.0, upper=2.0)


# --- §4 Score ---------------------------------------------------------------------------------


def test_score_clips_to_zero_and_the_default_cap_of_one():
    assert score([-0.5, 0.0, 0.5, 1.0, 1.7]).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_score_cap_one_and_a_half_allows_one_and_a_half():
    assert score([1.2, 1.5, 1.7], cap=1.5).tolist() == [1.2, 1.5, 1.5]


def test_score_cap_per_measure_and_at_most_two():
    assert score([3.0, 3.0, 3.0], cap=[1.0, 2.0, 0.0]).tolist() == [1.0, 2.0, 0.0]


def test_score_keeps_undefined_undefined():
    assert np.isnan(score([NAN])).all()


@pytest.mark.parametrize("cap", [2.5, -0.1, NAN])
def test_score_rejects_a_cap_outside_zero_to_two(cap):
    with pytest.raises(ValueError, match=r"cap must be within \[0, 2.0\]"):
        score([0.5], cap=cap)


def test_attainment_rejects_a_cap_above_two():
    with pytest.raises(ValueError, match="cap"):
        attainment([0.0], "decrease", 10.0, cap=2.01)


# --- §5 Status --------------------------------------------------------------------------------


def test_status_from_health_default_thresholds():
    s = status_from_health([1.2, 1.0, 0.99, 0.8, 0.79, -1.0, NAN])
    assert s.tolist() == statuses("on_track", "on_track", "at_risk", "at_risk", "off_track", "off_track", "no_data")


def test_status_from_health_custom_thresholds():
    s = status_from_health([0.95, 0.9, 0.6, 0.49], on_track=0.9, at_risk=0.5)
    assert s.tolist() == statuses("on_track", "on_track", "at_risk", "off_track")


def test_steady_tracking_judges_the_attainment_itself():
    x, s = health_and_status([0.5, 0.9], Tracking.STEADY, f=0.5, closed=False)
    assert x.tolist() == [0.5, 0.9]
    assert s.tolist() == statuses("off_track", "at_risk")


def test_linear_tracking_judges_pace_in_an_open_period():
    # x = a / f: 0.4 / 0.5 = 0.8 at risk; 0.6 / 0.5 = 1.2 on track; 0.3 / 0.5 = 0.6 off track
    x, s = health_and_status([0.4, 0.6, 0.3], "linear", f=0.5, closed=False)
    assert x == approx([0.8, 1.2, 0.6])
    assert s.tolist() == statuses("at_risk", "on_track", "off_track")


def test_linear_tracking_in_a_closed_period_judges_the_attainment():
    x, s = health_and_status([0.4], "linear", f=1.0, closed=True)
    assert x.tolist() == [0.4]
    assert s.tolist() == statuses("off_track")


def test_linear_grace_period_is_pending_unless_on_track():
    # f = 0.05: x = 0.02 / 0.05 = 0.4 -> pending; x = 0.06 / 0.05 = 1.2 -> on track; x = 0.05 / 0.05 = 1 -> on track
    x, s = health_and_status([0.02, 0.06, 0.05], "linear", f=0.05, closed=False)
    assert x == approx([0.4, 1.2, 1.0])
    assert s.tolist() == statuses("pending", "on_track", "on_track")


def test_grace_period_uses_the_measures_on_track_threshold():
    # f = 1/16: x = 0.05625 * 16 = 0.9 -> pending with on_track 1.0, on track with on_track 0.9
    x, s = health_and_status([0.05625, 0.05625], "linear", f=0.0625, closed=False, on_track=[1.0, 0.9])
    assert x.tolist() == [0.9, 0.9]
    assert s.tolist() == statuses("pending", "on_track")


def test_grace_period_ends_at_a_tenth_of_the_period():
    # f = 0.1 exactly: no longer pending; x = 0.04 / 0.1 = 0.4 -> off track
    _, s = health_and_status([0.04], "linear", f=0.1, closed=False)
    assert s.tolist() == statuses("off_track")


def test_start_of_period_is_pending_with_undefined_health():
    x, s = health_and_status([0.0, 5.0], "linear", f=0.0, closed=False)
    assert np.isnan(x).all()
    assert s.tolist() == statuses("pending", "pending")


def test_steady_tracking_has_no_grace_period():
    x, s = health_and_status([0.5], "steady", f=0.0, closed=False)
    assert x.tolist() == [0.5]
    assert s.tolist() == statuses("off_track")


def test_no_actual_is_no_data_even_at_the_start_of_the_period():
    x, s = health_and_status([NAN, NAN, NAN], ["linear", "steady", "linear"], f=[0.0, 0.5, 1.0],
                             closed=[False, False, True])
    assert np.isnan(x).all()
    assert s.tolist() == statuses("no_data", "no_data", "no_data")


def test_default_tracking_is_linear_for_sum_and_count():
    kinds = ["last", "sum", "mean", "min", "max", "count", "ratio"]
    assert default_tracking(kinds).tolist() == [0, 1, 0, 0, 0, 1, 0]


# --- §6 Forecast ------------------------------------------------------------------------------


def test_run_rate_forecast_for_sum_and_count():
    # A / f: 30 / 0.25 = 120; 7 / 0.5 = 14
    end = forecast(["sum", "count"], [30.0, 7.0], [0.25, 0.5], False, Aggregates(n=[3, 7]), 100.0)
    assert end == approx([120.0, 14.0])


def test_run_rate_at_the_start_of_the_period_is_undefined():
    assert np.isnan(forecast("sum", [30.0], 0.0, False, Aggregates(n=[1]), 100.0)).all()


def test_ratio_forecast_is_the_actual():
    assert forecast("ratio", [0.9], 0.5, False, Aggregates(n=[10], sum_t=[1.0], sum_tt=[5.0]), 100.0).tolist() == [0.9]


def points_aggregates(t, y):
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    return Aggregates(n=[len(t)], sum=[y.sum()], min=[y.min()], max=[y.max()], last=[y[np.argmax(t)]],
                      sum_t=[t.sum()], sum_tt=[(t * t).sum()], sum_ty=[(t * y).sum()])


def test_least_squares_forecast_matches_polyfit():
    t = np.array([0.0, 86400.0, 3 * 86400.0, 5 * 86400.0, 8 * 86400.0, 13 * 86400.0])
    y = np.array([10.0, 12.5, 11.0, 16.0, 18.5, 21.0])
    length = 30 * 86400.0
    slope, intercept = np.polyfit(t, y, 1)
    expected = intercept + slope * length
    for kind in ("last", "mean", "min", "max"):
        end = forecast(kind, [y.mean()], 13 / 30, False, points_aggregates(t, y), length)
        assert end == approx([expected], rel=1e-9), kind


def test_least_squares_forecast_of_an_exact_line():
    # y = 2 + 3 * t, evaluated at t = 10: 32
    end = forecast("mean", [5.0], 0.3, False, points_aggregates([0.0, 1.0, 2.0], [2.0, 5.0, 8.0]), 10.0)
    assert end == approx([32.0])


def test_least_squares_forecast_with_one_point_is_the_actual():
    assert forecast("last", [7.0], 0.5, False, points_aggregates([40.0], [7.0]), 100.0).tolist() == [7.0]


def test_least_squares_forecast_without_observations_is_undefined():
    assert np.isnan(forecast("mean", [NAN], 0.5, False, Aggregates.empty(1), 100.0)).all()


def test_least_squares_forecast_without_spread_in_time_is_the_actual():
    # Two observations at the same instant: no line.
    aggregates = points_aggregates([1e6, 1e6], [4.0, 6.0])
    assert forecast("mean", [5.0], 0.5, False, aggregates, 1e7).tolist() == [5.0]


def test_forecast_of_a_closed_period_is_its_actual():
    aggregates = points_aggregates([0.0, 1.0, 2.0], [2.0, 5.0, 8.0])
    assert forecast("mean", [5.0], 1.0, True, aggregates, 10.0).tolist() == [5.0]
    assert forecast("sum", [15.0], 1.0, True, aggregates, 10.0).tolist() == [15.0]


def test_forecast_status_is_judged_as_if_closed():
    assert forecast_status([1.2, 0.85, 0.1, NAN]).tolist() == statuses("on_track", "at_risk", "off_track", "no_data")


# --- §1-6 in one call -------------------------------------------------------------------------


def test_evaluate_measures_end_to_end():
    # A 100-day period, evaluated on day 25 (f = 0.25).
    start, end, now = 0.0, 100 * DAY, 25 * DAY
    aggregates = Aggregates.from_records([
        # 0: sum of sales, target 100, 30 so far (linear by default)
        {"n": 3, "sum": 30.0},
        # 1: mean response time, decrease without baseline, T = 2: points (0, 4), (10 d, 3), (20 d, 2)
        {"n": 3, "sum": 9.0, "min": 2.0, "max": 4.0, "last": 2.0, "sum_t": 30 * DAY, "sum_tt": 500 * DAY * DAY,
         "sum_ty": 70 * DAY},
        # 2: nothing observed yet
        None,
        # 3: ratio 45 / 50 within 0.95 - 1.0 (tol = 0.05): 1 - 0.05 / 0.05 = 0
        {"n": 50, "sum_good": 45.0, "sum_total": 50.0},
        # 4: count of incidents, explicit steady tracking, increase target 4 from baseline 0
        {"n": 2},
    ])
    result = evaluate_measures(
        aggregates,
        aggregation=["sum", "mean", "last", "ratio", "count"],
        polarity=["increase", "decrease", "increase", "range", "increase"],
        target=[100.0, 2.0, 10.0, NAN, 4.0],
        lower=[NAN, NAN, NAN, 0.95, NAN],
        upper=[NAN, NAN, NAN, 1.0, NAN],
        tracking=[None, None, None, "", "steady"],
        start=start, end=end, t=now,
    )
    assert result.elapsed.tolist() == [0.25] * 5
    assert result.closed.tolist() == [False] * 5
    assert result.actual == approx([30.0, 3.0, NAN, 0.9, 2.0])
    # 0: 30 / 100 = 0.3; 1: 2 / 3; 3: range, 0.05 below with tol 0.05 -> 0; 4: 2 / 4
    assert result.attainment == approx([0.3, 2 / 3, NAN, 0.0, 0.5])
    assert result.score == approx([0.3, 2 / 3, NAN, 0.0, 0.5])
    # 0: linear, 0.3 / 0.25 = 1.2; others steady
    assert result.health == approx([1.2, 2 / 3, NAN, 0.0, 0.5])
    assert result.status.tolist() == statuses("on_track", "off_track", "no_data", "off_track", "off_track")
    # 0: 30 / 0.25 = 120; 1: line y = 4 - t / 10 d at 100 d -> -6; 3: the actual; 4: 2 / 0.25 = 8
    assert result.forecast == approx([120.0, -6.0, NAN, 0.9, 8.0], rel=1e-9)
    # 0: 1.2; 1: A_end <= 0 without baseline -> a = c = 1; 4: 8 / 4 = 2
    assert result.forecast_attainment == approx([1.2, 1.0, NAN, 0.0, 2.0], rel=1e-9)
    assert result.forecast_status.tolist() == statuses("on_track", "on_track", "no_data", "off_track", "on_track")
    assert status_slugs(result.status).tolist() == ["on_track", "off_track", "no_data", "off_track", "off_track"]


def test_evaluate_measures_in_the_grace_period_and_after_the_end():
    aggregates = Aggregates(n=[1, 1, 1], sum=[2.0, 2.0, 2.0])
    result = evaluate_measures(aggregates, aggregation="sum", polarity="increase", target=100.0,
                               start=0.0, end=100.0, t=[5.0, 0.0, 150.0])
    # f = 0.05: x = 0.02 / 0.05 = 0.4 -> pending; f = 0 -> pending; closed: x = a = 0.02 -> off track
    assert result.health == approx([0.4, NAN, 0.02])
    assert result.status.tolist() == statuses("pending", "pending", "off_track")
    # run rate: 2 / 0.05 = 40; f = 0: undefined; closed: the actual
    assert result.forecast == approx([40.0, NAN, 2.0])
    assert result.forecast_status.tolist() == statuses("off_track", "no_data", "off_track")


def test_evaluate_measures_cap_and_thresholds_per_measure():
    aggregates = Aggregates(n=[1, 1], last=[130.0, 90.0])
    result = evaluate_measures(aggregates, aggregation="last", polarity="increase", target=100.0,
                               cap=[1.5, 1.0], on_track=[1.0, 0.9], at_risk=[0.8, 0.5], start=0.0, end=10.0, t=20.0)
    assert result.attainment == approx([1.3, 0.9])
    assert result.score == approx([1.3, 0.9])
    assert result.status.tolist() == statuses("on_track", "on_track")
    assert result.cap.tolist() == [1.5, 1.0]


def test_evaluate_measures_rejects_a_cap_above_two():
    with pytest.raises(ValueError, match="cap"):
        evaluate_measures(Aggregates(n=[1], last=[1.0]), aggregation="last", polarity="increase", target=1.0,
                          cap=3.0, start=0.0, end=1.0, t=1.0)


def test_evaluate_measures_with_no_measures():
    result = evaluate_measures(Aggregates.empty(0), aggregation=[], polarity=[], target=[], start=[], end=[], t=0.0)
    assert len(result.status) == 0


# --- §7 Roll-up -------------------------------------------------------------------------------


def test_roll_up_weighted_progress_and_health():
    # Parent 0: w 1, 3 with s 0.4, 0.8 -> S = (0.4 + 2.4) / 4 = 0.7; x 0.5, 1.0 -> H = (0.5 + 3) / 4 = 0.875
    # Parent 1: one child s 0.9, x 0.95 -> at risk
    result = roll_up([0, 0, 1], 2, weight=[1.0, 3.0, 2.0], score=[0.4, 0.8, 0.9], health=[0.5, 1.0, 0.95],
                     status=statuses("off_track", "on_track", "at_risk"))
    assert result.progress == approx([0.7, 0.9])
    assert result.health == approx([0.875, 0.95])
    assert result.status.tolist() == statuses("at_risk", "at_risk")


def test_roll_up_weight_zero_is_shown_not_counted():
    result = roll_up([0, 0], 1, weight=[0.0, 1.0], score=[0.0, 0.9], health=[0.0, 0.9],
                     status=statuses("off_track", "at_risk"))
    assert result.progress == approx([0.9])
    assert result.health == approx([0.9])


def test_roll_up_leaves_out_no_data_children():
    result = roll_up([0, 0], 1, weight=[5.0, 1.0], score=[NAN, 0.6], health=[NAN, 0.6],
                     status=statuses("no_data", "off_track"))
    assert result.progress == approx([0.6])
    assert result.status.tolist() == statuses("off_track")


def test_roll_up_all_children_no_data_is_no_data():
    result = roll_up([0, 0], 1, weight=[1.0, 1.0], score=NAN, health=NAN, status=statuses("no_data", "no_data"))
    assert np.isnan(result.progress).all() and np.isnan(result.health).all()
    assert result.status.tolist() == statuses("no_data")


def test_roll_up_every_counted_weight_zero_is_no_data():
    result = roll_up([0, 0, 0], 1, weight=[0.0, 0.0, 3.0], score=[0.5, 1.0, NAN], health=[0.5, 1.0, NAN],
                     status=statuses("off_track", "on_track", "no_data"))
    assert np.isnan(result.progress).all()
    assert result.status.tolist() == statuses("no_data")


def test_roll_up_parent_without_children_is_no_data():
    result = roll_up([1], 3, weight=[1.0], score=[1.0], health=[1.0], status=statuses("on_track"))
    assert result.status.tolist() == statuses("no_data", "on_track", "no_data")


def test_roll_up_counts_pending_children_with_health_one():
    # Pending child: s 0.02 counted as is, x counted as 1. S = (0.02 + 0.5) / 2 = 0.26; H = (1 + 0.5) / 2 = 0.75
    result = roll_up([0, 0], 1, weight=1.0, score=[0.02, 0.5], health=[NAN, 0.5],
                     status=statuses("pending", "off_track"))
    assert result.progress == approx([0.26])
    assert result.health == approx([0.75])
    assert result.status.tolist() == statuses("off_track")


def test_roll_up_clamps_health_to_each_childs_cap():
    # x 1.7 with cap 1.5 -> 1.5; x 3 with cap 1 -> 1; x -0.5 -> 0. H = (1.5 + 1 + 0) / 3 = 2.5 / 3
    result = roll_up([0, 0, 0], 1, weight=1.0, score=[1.5, 1.0, 0.0], health=[1.7, 3.0, -0.5],
                     status=statuses("on_track", "on_track", "off_track"), cap=[1.5, 1.0, 1.0])
    assert result.health == approx([2.5 / 3])
    assert result.progress == approx([2.5 / 3])
    assert result.status.tolist() == statuses("at_risk")


def test_roll_up_uses_each_nodes_thresholds():
    result = roll_up([0, 1], 2, weight=1.0, score=0.85, health=0.85, status=statuses("at_risk", "at_risk"),
                     on_track=[1.0, 0.85], at_risk=[0.8, 0.5])
    assert result.status.tolist() == statuses("at_risk", "on_track")


def test_roll_up_status_rule_worst():
    # Parent 0: worst of on_track, at_risk, off_track -> off_track (H = 0.9 would say at risk)
    # Parent 1: pending counts as on_track, at_risk is worse -> at_risk
    # Parent 2: pending and on_track -> on_track
    # Parent 3: the off_track child has weight 0 and the no_data child is left out -> on_track
    result = roll_up(
        [0, 0, 0, 1, 1, 2, 2, 3, 3, 3], 4,
        weight=[1, 1, 1, 1, 1, 1, 1, 0, 1, 1],
        score=[1.0, 0.9, 0.8, 0.5, 0.85, 0.01, 1.0, 0.0, 1.0, NAN],
        health=[1.0, 0.9, 0.79, NAN, 0.85, NAN, 1.0, 0.0, 1.0, NAN],
        status=statuses("on_track", "at_risk", "off_track", "pending", "at_risk", "pending", "on_track",
                        "off_track", "on_track", "no_data"),
        status_rule="worst",
    )
    assert result.status.tolist() == statuses("off_track", "at_risk", "on_track", "on_track")
    assert result.health[0] == pytest.approx((1.0 + 0.9 + 0.79) / 3)


def test_roll_up_status_rule_per_parent():
    kids = {"weight": 1.0, "score": [1.0, 0.5, 1.0, 0.5], "health": [1.0, 0.5, 1.0, 0.5],
            "status": statuses("on_track", "off_track", "on_track", "off_track")}
    # Both parents: H = 0.75, at risk with at_risk 0.7; under worst, parent 1 is off track.
    result = roll_up([0, 0, 1, 1], 2, status_rule=[StatusRule.WEIGHTED, StatusRule.WORST], at_risk=0.7, **kids)
    assert result.status.tolist() == statuses("at_risk", "off_track")
    by_name = roll_up([0, 0, 1, 1], 2, status_rule=["weighted", "worst"], at_risk=0.7, **kids)
    assert by_name.status.tolist() == result.status.tolist()


def test_roll_up_worst_rule_with_no_counted_children_is_no_data():
    result = roll_up([0], 1, weight=0.0, score=1.0, health=1.0, status=statuses("on_track"), status_rule="worst")
    assert result.status.tolist() == statuses("no_data")


def test_roll_up_rejects_negative_or_undefined_weights():
    with pytest.raises(ValueError, match="weight must be a finite number >= 0; row 1"):
        roll_up([0, 0], 1, weight=[1.0, -1.0], score=1.0, health=1.0, status=statuses("on_track", "on_track"))
    with pytest.raises(ValueError, match="weight"):
        roll_up([0], 1, weight=[NAN], score=1.0, health=1.0, status=statuses("on_track"))


def test_roll_up_rejects_parents_out_of_range():
    with pytest.raises(ValueError, match="parent must be within"):
        roll_up([2], 2, weight=1.0, score=1.0, health=1.0, status=statuses("on_track"))


# --- §7 Hierarchy -----------------------------------------------------------------------------

# Leaves (measures behind key results):
#   m0: s 0.5, x 0.5, off_track      m1: s 1.2, x 1.2, on_track, cap 1.5
#   m2: s 0.9, x 0.9, at_risk        m3: no data
LEAVES = Leaves(score=[0.5, 1.2, 0.9, NAN], health=[0.5, 1.2, 0.9, NAN],
                status=statuses("off_track", "on_track", "at_risk", "no_data"), cap=[1.0, 1.5, 1.0, 1.0])
P, C, G, PERSPECTIVE, SCORECARD, WORST, EMPTY = range(7)


def test_roll_up_tree_nested_objectives_to_the_scorecard():
    # G (grandchild objective): m0, m2, weight 1 each -> S = H = 0.7, off track
    # C (child objective): m1 weight 2, m3 weight 5 (no data), G weight 1 -> S = H = (2.4 + 0.7) / 3 = 3.1 / 3
    # P (parent objective): m0 weight 1, C weight 3 -> S = H = (0.5 + 3.1) / 4 = 0.9, at risk
    # WORST: m0 weight 0, m1, m2 under status_rule worst -> at risk (S = H = (1.2 + 0.9) / 2 = 1.05; m1's x
    #        1.2 is within its cap 1.5)
    # PERSPECTIVE: P weight 1, WORST weight 0 -> as P;  SCORECARD: PERSPECTIVE -> as P;  EMPTY: no children
    leaf_edges = Edges(child=[0, 2, 1, 3, 0, 0, 1, 2], parent=[G, G, C, C, P, WORST, WORST, WORST],
                       weight=[1, 1, 2, 5, 1, 0, 1, 1])
    node_edges = Edges(child=[G, C, P, WORST, PERSPECTIVE], parent=[C, P, PERSPECTIVE, PERSPECTIVE, SCORECARD],
                       weight=[1, 3, 1, 0, 1])
    rule = np.full(7, StatusRule.WEIGHTED)
    rule[WORST] = StatusRule.WORST
    result = roll_up_tree(7, leaves=LEAVES, leaf_edges=leaf_edges, node_edges=node_edges, status_rule=rule)
    expected = [0.9, 3.1 / 3, 0.7, 0.9, 0.9, 1.05, NAN]
    assert result.progress == approx(expected)
    assert result.health == approx(expected)
    assert result.status.tolist() == statuses("at_risk", "on_track", "off_track", "at_risk", "at_risk", "at_risk",
                                              "no_data")


def test_roll_up_tree_edge_order_does_not_matter():
    leaf_edges = Edges(child=[0, 2, 1], parent=[2, 2, 1], weight=1.0)
    node_edges = Edges(child=[2, 1], parent=[1, 0], weight=1.0)
    forward = roll_up_tree(3, leaves=LEAVES, leaf_edges=leaf_edges, node_edges=node_edges)
    reverse = roll_up_tree(3, leaves=LEAVES, leaf_edges=Edges(child=[1, 2, 0], parent=[1, 2, 2], weight=1.0),
                           node_edges=Edges(child=[1, 2], parent=[0, 1], weight=1.0))
    # 2: (0.5 + 0.9) / 2 = 0.7; 1: (1.2 + 0.7) / 2 = 0.95; 0: 0.95
    assert forward.progress == approx([0.95, 0.95, 0.7])
    assert reverse.progress == approx(forward.progress)
    assert reverse.status.tolist() == forward.status.tolist() == statuses("at_risk", "at_risk", "off_track")


def test_roll_up_tree_deep_chain():
    # 50 objectives, each rolling up into the one before it; the deepest holds m2.
    depth = 50
    result = roll_up_tree(depth, leaves=LEAVES, leaf_edges=Edges(child=[2], parent=[depth - 1], weight=1.0),
                          node_edges=Edges(child=np.arange(1, depth), parent=np.arange(depth - 1), weight=1.0))
    assert result.progress == approx([0.9] * depth)
    assert result.status.tolist() == statuses(*["at_risk"] * depth)


def test_roll_up_tree_node_thresholds_per_node():
    result = roll_up_tree(2, leaves=LEAVES, leaf_edges=Edges(child=[2, 2], parent=[0, 1], weight=1.0),
                          on_track=[1.0, 0.9])
    assert result.status.tolist() == statuses("at_risk", "on_track")


def test_roll_up_tree_without_node_edges_is_one_level():
    result = roll_up_tree(1, leaves=LEAVES, leaf_edges=Edges(child=[0, 1], parent=[0, 0], weight=[1.0, 1.0]))
    # S = (0.5 + 1.2) / 2 = 0.85; H = (0.5 + 1.2) / 2 = 0.85 (1.2 within m1's cap 1.5)
    assert result.progress == approx([0.85])
    assert result.health == approx([0.85])


def test_roll_up_tree_rejects_a_cycle():
    with pytest.raises(ValueError, match="cycle"):
        roll_up_tree(2, leaves=LEAVES, leaf_edges=Edges.none(), node_edges=Edges(child=[0, 1], parent=[1, 0],
                                                                                weight=1.0))
    with pytest.raises(ValueError, match="cycle"):
        roll_up_tree(1, leaves=LEAVES, leaf_edges=Edges.none(), node_edges=Edges(child=[0], parent=[0], weight=1.0))


def test_roll_up_tree_rejects_indices_out_of_range():
    with pytest.raises(ValueError, match="leaf_edges.child"):
        roll_up_tree(1, leaves=LEAVES, leaf_edges=Edges(child=[4], parent=[0], weight=1.0))
    with pytest.raises(ValueError, match="node_edges.parent"):
        roll_up_tree(1, leaves=LEAVES, leaf_edges=Edges.none(), node_edges=Edges(child=[0], parent=[1], weight=1.0))


def test_measure_scores_feed_the_tree():
    aggregates = Aggregates(n=[1, 1], last=[15.0, 30.0])
    measures = evaluate_measures(aggregates, aggregation="last", polarity="increase", target=20.0, baseline=10.0,
                                 cap=[1.0, 2.0], start=0.0, end=10.0, t=20.0)
    # a = 0.5 and 2.0; S = H = (0.5 + 2.0) / 2 = 1.25
    result = roll_up_tree(1, leaves=measures.leaves(), leaf_edges=Edges(child=[0, 1], parent=[0, 0], weight=1.0))
    assert result.progress == approx([1.25])
    assert result.health == approx([1.25])


def test_leaves_concatenate_kinds():
    more = Leaves(score=[0.3], health=[0.3], status=statuses("off_track"))
    both = Leaves.concat(LEAVES, more)
    assert len(both) == 5
    assert both.cap.tolist() == [1.0, 1.5, 1.0, 1.0, 1.0]
    assert both.status.tolist()[-1] == Status.OFF_TRACK


# --- Times ------------------------------------------------------------------------------------


def test_epoch_seconds_from_aware_datetimes_and_datetime64():
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert to_epoch_seconds([moment, moment + timedelta(hours=1)]).tolist() == [1767225600.0, 1767229200.0]
    plus_two = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert to_epoch_seconds([plus_two]).tolist() == [1767225600.0]
    assert to_epoch_seconds(np.array(["2026-01-01T00:00:00"], dtype="datetime64[s]")).tolist() == [1767225600.0]
    assert to_epoch_seconds(np.array(["2026-01-01"], dtype="datetime64[D]")).tolist() == [1767225600.0]


def test_epoch_seconds_rejects_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        to_epoch_seconds([datetime(2026, 1, 1)])
