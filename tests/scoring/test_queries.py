"""scoring/queries.py: evaluation results read back through `.restrict`: latest snapshots, scorecards,
the alignment tree, measure series (downsampled in SQL), my goals and the company overview.

The plan lives in a period around today, so "the latest snapshot on or before today" holds
whatever day the suite runs.
"""

from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from django.utils import timezone

from northstar.goals import services as goals
from northstar.goals.models import CheckIn, KeyResult, Objective, Perspective
from northstar.measures.ingest import ObservationIn, do_ingest
from northstar.measures.models import Measure, Observation, Target
from northstar.measures.services import do_create_measure, do_set_target
from northstar.scoring import engine, queries
from northstar.scoring.evaluate import evaluate
from northstar.scoring.models import ScoreSnapshot

COVERS = [ScoreSnapshot, Objective, KeyResult, CheckIn, Measure, Target, Observation]


def build_plan(org, *, days_before: int = 60, days_after: int = 60, evaluate_days: int = 3):
    """A plan in the period "cycle" (today - 60 days to today + 60 days), scored on the last few days.

        Be the reliable choice (Acme, financial)
        └── Reliable platform (Platform, internal process, rolls up): deploys (sum), p95 latency (decrease)
            └── Ship faster (Erin, learning, rolls up, Pat contributes): Automate releases (one-off, 0 -> 100 %)
        Fast web (Web team) aligned to Wendy's "Web vitals" (Wendy, another team): one-off
        Close deals (Oscar, sales): one-off
    """
    today = timezone.localdate()
    cycle = goals.do_create_period(key="cycle", name="This cycle", start=today - timedelta(days=days_before),
                                   end=today + timedelta(days=days_after), acting_user=org.hr)
    perspective = {p.key: p for p in Perspective.objects.all()}
    platform = org.units.platform.subject
    deploys = do_create_measure(key="deploys", name="Deploys", unit="deploys", subject=platform, aggregation="sum",
                                acting_user=org.admin)
    latency = do_create_measure(key="latency", name="p95 latency", unit="ms", subject=platform, aggregation="last",
                                polarity="decrease", acting_user=org.admin)
    do_set_target(deploys, cycle, target=100, acting_user=org.admin)
    do_set_target(latency, cycle, target=200, baseline=400, acting_user=org.admin)
    company = goals.do_create_objective(key="company", title="Be the reliable choice", subject=org.units.acme.subject,
                                        period=cycle, perspective=perspective["financial"], acting_user=org.admin)
    team = goals.do_create_objective(key="team", title="Reliable platform", subject=platform, period=cycle,
                                     perspective=perspective["internal-process"], parent=company, rolls_up=True,
                                     owner=org.people["manager"], acting_user=org.admin)
    goals.do_create_key_result(key="kr-deploys", objective=team, title="100 deploys", measure=deploys,
                               acting_user=org.admin)
    goals.do_create_key_result(key="kr-latency", objective=team, title="p95 at 200 ms", measure=latency, weight=3,
                               acting_user=org.admin)
    mine = goals.do_create_objective(key="mine", title="Ship faster", subject=org.people["employee"].subject,
                                     period=cycle, perspective=perspective["learning-growth"], parent=team,
                                     rolls_up=True, owner=org.people["employee"], contributors=[org.people["peer"]],
                                     acting_user=org.employee)
    automate = goals.do_create_key_result(key="kr-automate", objective=mine, title="Automate releases",
                                          acting_user=org.employee)
    vitals = goals.do_create_objective(key="vitals", title="Web vitals", subject=org.people["web_dev"].subject,
                                       period=cycle, owner=org.people["web_dev"], acting_user=org.admin)
    goals.do_create_key_result(key="kr-vitals", objective=vitals, title="LCP under 2 s", acting_user=org.admin)
    web = goals.do_create_objective(key="web", title="Fast web", subject=org.units.web.subject, period=cycle,
                                    parent=vitals, acting_user=org.admin)
    deals = goals.do_create_objective(key="deals", title="Close deals", subject=org.people["outsider"].subject,
                                      period=cycle, owner=org.people["outsider"], acting_user=org.admin)
    goals.do_create_key_result(key="kr-deals", objective=deals, title="Ten deals", target_value=10, unit="deals",
                               acting_user=org.admin)
    now = timezone.now()
    do_ingest([ObservationIn("deploys", now - timedelta(days=50), 20),
               ObservationIn("deploys", now - timedelta(days=20), 15),
               ObservationIn("latency", now - timedelta(days=40), 320),
               ObservationIn("latency", now - timedelta(days=5), 250),
               ObservationIn(automate.measure.key, now - timedelta(days=10), 60),
               ObservationIn("kr-kr-vitals", now - timedelta(days=10), 90),
               ObservationIn("kr-kr-deals", now - timedelta(days=10), 2)],
              source="api", acting_user=org.admin)
    for back in range(evaluate_days - 1, -1, -1):
        evaluate(as_of=now - timedelta(days=back), period_keys=["cycle"])
    return SimpleNamespace(cycle=cycle, company=company, team=team, mine=mine, automate=automate, vitals=vitals,
                           web=web, deals=deals, deploys=deploys, latency=latency)


@pytest.fixture
def plan(org):
    return build_plan(org)


def snapshot(kind, node_id):
    return ScoreSnapshot.objects.filter(node_kind=kind, node_id=node_id).order_by("-day").first()


# -- latest snapshots ------------------------------------------------------------------------------


def test_latest_snapshot_per_node_is_the_newest_day(org, plan):
    rows = queries.latest_snapshots(org.admin, plan.cycle)
    days = {(s.node_kind, s.node_id, s.subject_id) for s in rows}
    assert len(days) == rows.count()  # one row per node
    assert {s.day for s in rows} == {timezone.localdate()}
    assert ScoreSnapshot.objects.filter(period=plan.cycle).values("day").distinct().count() == 3


def test_a_node_not_rescored_today_keeps_its_last_snapshot(org, plan):
    ScoreSnapshot.objects.filter(node_kind="objective", node_id=plan.deals.pk, day=timezone.localdate()).delete()
    row = queries.latest_snapshots(org.admin, plan.cycle, kind="objective").get(node_id=plan.deals.pk)
    assert row.day == timezone.localdate() - timedelta(days=1)


def test_snapshots_are_restricted_to_visible_subjects(org, plan):
    subjects = set(queries.latest_snapshots(org.employee, plan.cycle).values_list("subject_id", flat=True))
    assert org.people["employee"].subject.pk in subjects
    assert org.people["outsider"].subject.pk not in subjects
    assert org.people["web_dev"].subject.pk not in subjects
    assert queries.latest_snapshots(org.employee, plan.cycle, status="no_data", kind="measure").count() == 0


def test_node_scores_carry_daily_history_for_sparklines(org, plan):
    scores = queries.node_scores(org.employee, plan.cycle.pk, "key_result", [plan.automate.pk])
    score = scores[plan.automate.pk]
    assert score.score == pytest.approx(0.6) and score.percent == 60
    assert [day for day, _value, _status in score.history] == [
        timezone.localdate() - timedelta(days=back) for back in (2, 1, 0)]
    assert score.sparkline.count(",") == 3  # three points in the polyline
    assert "from 60% to 60%" in score.trend


def test_default_period_prefers_the_current_one_with_the_most_objectives(org, plan):
    goals.do_create_fiscal_year(timezone.localdate().year, acting_user=org.hr)
    assert queries.default_period(org.admin, Objective.objects.all()) == plan.cycle
    chosen = queries.default_period(org.admin)  # no objectives to go by: the longest current period
    assert chosen.kind == "year"
    with pytest.raises(queries.ValidationError):
        queries.period_by_key(org.admin, "nope")


# -- scorecard -------------------------------------------------------------------------------------


def test_scorecard_groups_objectives_under_perspectives(org, plan):
    card = queries.scorecard(org.employee, org.units.platform.subject, plan.cycle)
    names = [b.perspective.name for b in card.perspectives if b.perspective]
    assert names == ["Financial", "Customer", "Internal process", "Learning and growth"]
    internal = next(b for b in card.perspectives if b.perspective and b.perspective.key == "internal-process")
    [row] = internal.objectives
    assert row.objective == plan.team
    assert [kr.key_result.key for kr in row.key_results] == ["kr-deploys", "kr-latency"]
    latency = row.key_results[1]
    assert latency.target.target == 200 and latency.score.actual == 250
    team = snapshot("objective", plan.team.pk)
    assert row.score.score == pytest.approx(team.score) and row.score.status == team.status
    assert internal.score.score == pytest.approx(team.score)
    assert card.score.status == team.status and card.objective_count == 1


def test_scorecard_of_a_subject_out_of_sight_does_not_exist_for_the_user(org, plan):
    with pytest.raises(queries.Subject.DoesNotExist):
        queries.visible_subject(org.employee, org.people["web_dev"].subject.uid)
    assert queries.visible_subject(org.manager, org.people["employee"].subject.uid)


# -- alignment -------------------------------------------------------------------------------------


def test_alignment_runs_from_the_company_down_to_people(org, plan):
    roots = queries.alignment(org.admin, plan.cycle)
    assert [r.objective.key for r in roots] == ["company", "deals", "vitals"]
    company = roots[0]
    assert [c.objective.key for c in company.children] == ["team"]
    assert [c.objective.key for c in company.children[0].children] == ["mine"]
    flat = [(r.objective.key, r.depth) for r in queries.flatten(roots)]
    assert flat[:3] == [("company", 0), ("team", 1), ("mine", 2)]
    assert ("web", 1) in flat  # under Wendy's objective, for those who see it
    assert company.children[0].score.status == snapshot("objective", plan.team.pk).status


def test_an_invisible_parent_makes_a_visible_child_a_root(org, plan):
    roots = queries.alignment(org.employee, plan.cycle)
    keys = [r.objective.key for r in roots]
    assert "vitals" not in keys and "deals" not in keys  # people in other teams
    assert keys == ["company", "web"]  # the web team's objective lost its invisible parent
    assert [r.objective.key for r in queries.flatten(roots)] == ["company", "team", "mine", "web"]


# -- measure series --------------------------------------------------------------------------------


def test_series_has_points_running_actual_target_bands_and_forecast(org, plan):
    series = queries.measure_series(org.employee, plan.deploys, plan.cycle)
    assert [p.value for p in series.points] == [20, 15]
    assert [p.actual for p in series.points] == [20, 35]  # sum: the running total
    assert series.target.target == 100 and not series.downsampled and series.observations == 2
    assert series.paced  # a sum is judged on pace
    assert [(b.status, b.lower, b.upper) for b in series.bands] == [
        ("on_track", 100, None), ("at_risk", 80, 100), ("off_track", None, 80)]
    latest = snapshot("measure", plan.deploys.pk)
    assert series.latest.forecast == pytest.approx(latest.forecast) and len(series.history) == 3


def test_decrease_bands_run_from_the_baseline_down(org, plan):
    series = queries.measure_series(org.employee, plan.latency, plan.cycle)
    # a = (400 - A) / (400 - 200): on track at or below 200, at risk up to 240.
    assert [(b.status, b.lower, b.upper) for b in series.bands] == [
        ("on_track", None, 200), ("at_risk", 200, 240), ("off_track", 240, None)]
    assert not series.paced and [p.actual for p in series.points] == [320, 250]


def test_long_series_are_aggregated_per_bucket_in_sql(org, plan, django_assert_max_num_queries):
    now = timezone.now()
    items = [ObservationIn("latency", now - timedelta(days=30) + timedelta(minutes=10 * i), 200 + i % 50)
             for i in range(3000)]
    do_ingest(items, source="api", acting_user=org.admin)
    with django_assert_max_num_queries(12):
        series = queries.measure_series(org.admin, plan.latency, plan.cycle, max_points=200)
    assert series.downsampled and series.observations == 3002
    assert 100 < len(series.points) <= 200
    assert sum(p.n for p in series.points) == 3002
    assert all(p.low <= p.value <= p.high for p in series.points)
    last = Observation.objects.filter(measure=plan.latency).order_by("-ts", "-id").first()
    assert series.points[-1].actual == last.value  # "last": the bucket's last value, exactly


def test_series_reads_observations_through_restrict(org, plan):
    outsider_measure = Measure.objects.get(key="kr-kr-deals")
    assert queries.measure_series(org.employee, outsider_measure, plan.cycle).points == []


@pytest.mark.parametrize("polarity, values", [
    ("increase", {"target": 100.0, "baseline": 20.0}),
    ("increase", {"target": 50.0}),
    ("increase", {"target": 10.0, "baseline": 40.0}),
    ("decrease", {"target": 200.0, "baseline": 400.0}),
    ("decrease", {"target": 5.0}),
    ("range", {"lower": 10.0, "upper": 20.0}),
    ("range", {"lower": 10.0, "upper": 10.0}),
    ("range", {"lower": 0.0, "upper": 0.0, "tolerance": 4.0}),
])
@pytest.mark.parametrize("level", [0.5, 0.8, 0.95, 1.0])
def test_band_bounds_are_where_the_engine_reaches_the_threshold(polarity, values, level):
    found = queries.value_at_attainment(polarity, level, **values)
    bounds = found if polarity == "range" else (found,)
    for bound in bounds:
        a = engine.attainment(bound, polarity, values.get("target"), values.get("baseline"), values.get("lower"),
                              values.get("upper"), values.get("tolerance"))
        assert float(np.ravel(a)[0]) == pytest.approx(level)


# -- my goals and the overview ---------------------------------------------------------------------


def test_my_goals_are_owned_about_or_contributed_to(org, plan):
    [group] = queries.my_goals(org.employee)
    assert group.period == plan.cycle and group.state == "current"
    [row] = group.objectives
    assert (row.objective, row.role) == (plan.mine, "owner")
    assert row.key_results[0].score.percent == 60
    [peer_group] = queries.my_goals(org.peer)
    assert [(r.objective.key, r.role) for r in peer_group.objectives] == [("mine", "contributor")]
    assert queries.my_goals(org.hr) == []  # no person


def test_recent_check_ins_are_limited_per_objective(org, plan):
    for n in range(7):
        goals.do_check_in(objective=plan.mine, comment=f"note {n}", acting_user=org.employee)
    recent = queries.recent_check_ins(org.employee, [plan.mine.pk], per_objective=5)[plan.mine.pk]
    assert [c.comment for c in recent] == [f"note {n}" for n in (6, 5, 4, 3, 2)]
    assert queries.recent_check_ins(org.outsider, [plan.mine.pk]) == {}


def test_overview_counts_statuses_over_each_units_subtree(org, plan):
    data = queries.overview(org.admin, plan.cycle)
    assert data.unit == org.units.acme
    rows = {row.unit.key: row for row in data.rows}
    assert set(rows) == {"eng", "sales"}
    assert rows["eng"].counts.total == 4  # team, mine, web, vitals
    assert rows["sales"].counts.total == 1 and rows["eng"].has_children and not rows["sales"].has_children
    assert data.own.total == 1 and data.totals.total == 6  # the company's own objective
    status = snapshot("objective", plan.deals.pk).status
    assert rows["sales"].counts.get(status) == 1
    assert sum(s.width for s in data.totals.segments) == pytest.approx(100)


def test_overview_drills_down_and_counts_only_visible_objectives(org, plan):
    data = queries.overview(org.employee, plan.cycle, org.units.eng)
    rows = {row.unit.key: row.counts.total for row in data.rows}
    assert rows == {"platform": 2, "web": 1}  # Wendy's own objective is out of sight
    assert [u.key for u in data.ancestors] == ["acme"]
    empty = queries.overview(org.employee, None)
    assert empty.totals.total == 0
