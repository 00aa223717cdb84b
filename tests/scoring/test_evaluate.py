"""evaluate.py end to end: aggregates in, snapshots out, roll-ups through the plan."""

from datetime import UTC, datetime

import pytest

from northstar.goals import services as goals
from northstar.measures.ingest import ObservationIn, do_ingest
from northstar.measures.services import do_create_measure, do_set_target
from northstar.scoring.evaluate import evaluate
from northstar.scoring.models import ScoreSnapshot

MID_YEAR = datetime(2026, 7, 2, 12, tzinfo=UTC)  # f of FY2026 = 0.5 (182.5 of 365 days)


@pytest.fixture
def plan(org):
    periods = {p.key: p for p in goals.do_create_fiscal_year(2026, acting_user=org.hr)}
    fy = periods["fy2026"]
    platform = org.units.platform.subject
    deploys = do_create_measure(key="deploys", name="Deploys", subject=platform, aggregation="sum",
                                acting_user=org.admin)
    latency = do_create_measure(key="latency", name="Latency", subject=platform, aggregation="last",
                                polarity="decrease", acting_user=org.admin)
    do_set_target(deploys, fy, target=1000, acting_user=org.admin)
    do_set_target(latency, fy, target=200, baseline=400, acting_user=org.admin)
    company = goals.do_create_objective(key="company", title="Be reliable", subject=org.units.acme.subject,
                                        period=fy, acting_user=org.admin)
    team = goals.do_create_objective(key="team", title="Ship safely", subject=platform, period=fy,
                                     perspective=goals.Perspective.objects.get(key="internal-process"),
                                     parent=company, rolls_up=True, acting_user=org.admin)
    goals.do_create_key_result(key="kr-deploys", objective=team, title="1000 deploys", measure=deploys, weight=1,
                               acting_user=org.admin)
    goals.do_create_key_result(key="kr-latency", objective=team, title="p95 at 200 ms", measure=latency, weight=3,
                               acting_user=org.admin)
    return {"fy": fy, "deploys": deploys, "latency": latency, "company": company, "team": team}


def ingest(org, *items):
    do_ingest(list(items), source="api", acting_user=org.admin)


def node(result, kind, key):
    return next(n for n in result.nodes if n.kind == kind and n.key == key)


def test_scores_follow_scoring_md_through_the_tree(org, plan):
    ingest(org, ObservationIn("deploys", datetime(2026, 2, 1, tzinfo=UTC), 300),
           ObservationIn("deploys", datetime(2026, 5, 1, tzinfo=UTC), 100),
           ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 300))
    result = evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    f = (MID_YEAR - datetime(2026, 1, 1, tzinfo=UTC)) / (datetime(2027, 1, 1, tzinfo=UTC)
                                                          - datetime(2026, 1, 1, tzinfo=UTC))
    deploys = node(result, "measure", "deploys")
    assert deploys.actual == 400 and deploys.attainment == pytest.approx(0.4)
    assert deploys.health == pytest.approx(0.4 / f)  # linear: pace against the elapsed fraction
    assert deploys.status == "at_risk"  # 0.4 / 0.5 = 0.8
    assert deploys.forecast == pytest.approx(400 / f)
    latency = node(result, "measure", "latency")
    assert latency.attainment == pytest.approx(0.5)  # (400 - 300) / (400 - 200)
    assert latency.status == "off_track"  # steady: x = a = 0.5
    team = node(result, "objective", "team")
    assert team.score == pytest.approx((0.4 + 3 * 0.5) / 4)
    assert team.health == pytest.approx((deploys.health + 3 * 0.5) / 4)
    company = node(result, "objective", "company")
    assert company.score == pytest.approx(team.score)  # its only counted child
    perspective = node(result, "perspective", "internal-process")
    assert perspective.score == pytest.approx(team.score)
    scorecards = [n for n in result.nodes if n.kind == "scorecard"]
    assert {n.subject_id for n in scorecards} == {org.units.platform.subject.pk, org.units.acme.subject.pk}
    assert node(result, "key_result", "kr-latency").status == "off_track"
    assert result.stored == ScoreSnapshot.objects.count() == len(result.nodes)


def test_no_observations_is_no_data_all_the_way_up(org, plan):
    result = evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    assert {n.status for n in result.nodes if n.kind in ("measure", "objective", "scorecard")} == {"no_data"}


def test_as_of_a_past_instant_ignores_later_observations(org, plan):
    ingest(org, ObservationIn("latency", datetime(2026, 3, 1, tzinfo=UTC), 300),
           ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 200))
    before = evaluate(as_of=datetime(2026, 4, 1, tzinfo=UTC), period_keys=["fy2026"], store=False)
    after = evaluate(as_of=MID_YEAR, period_keys=["fy2026"], store=False)
    assert node(before, "measure", "latency").actual == 300
    assert node(after, "measure", "latency").actual == 200


def test_snapshots_are_dated_and_replaced_within_a_day(org, plan):
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    evaluate(as_of=MID_YEAR.replace(hour=18), period_keys=["fy2026"])
    evaluate(as_of=datetime(2026, 7, 3, 9, tzinfo=UTC), period_keys=["fy2026"])
    days = set(ScoreSnapshot.objects.filter(node_kind="objective", node_id=plan["team"].pk)
               .values_list("day", flat=True))
    assert [d.isoformat() for d in sorted(days)] == ["2026-07-02", "2026-07-03"]


def test_incremental_rescoring_matches_a_full_run(org, plan):
    other = goals.do_create_objective(key="other", title="Other", subject=org.units.platform.subject,
                                      period=plan["fy"], acting_user=org.admin)
    goals.do_create_key_result(key="kr-other", objective=other, title="Other", measure=plan["deploys"],
                               acting_user=org.admin)
    ingest(org, ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 300),
           ObservationIn("deploys", datetime(2026, 6, 1, tzinfo=UTC), 500))
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    ingest(org, ObservationIn("latency", datetime(2026, 6, 2, tzinfo=UTC), 250))
    partial = evaluate(as_of=MID_YEAR, period_keys=["fy2026"], measure_ids=[plan["latency"].pk])
    rescored = {(n.kind, n.key) for n in partial.nodes}
    assert ("measure", "latency") in rescored and ("objective", "company") in rescored
    assert ("measure", "deploys") in rescored  # it backs the re-scored team objective
    assert ("objective", "other") not in rescored  # not in the chain: read back from its snapshot
    full = evaluate(as_of=MID_YEAR, period_keys=["fy2026"], store=False)
    for n in partial.nodes:
        twin = next(f for f in full.nodes if (f.kind, f.node_id, f.subject_id) == (n.kind, n.node_id, n.subject_id))
        assert (n.score, n.health, n.status) == (pytest.approx(twin.score), pytest.approx(twin.health),
                                                 twin.status), (n.kind, n.key)


def test_evaluate_command_prints_json_with_stable_fields(org, plan):
    import json
    from io import StringIO

    from django.core.management import call_command

    ingest(org, ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 300))
    out = StringIO()
    call_command("evaluate", "--as-of", "2026-07-02T12:00:00Z", "--period", "fy2026", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["as_of"] == "2026-07-02T12:00:00+00:00" and data["periods"] == ["fy2026"]
    latency = next(r for r in data["results"] if r["kind"] == "measure" and r["key"] == "latency")
    assert set(latency) == {"kind", "key", "name", "subject", "subject_kind", "period", "actual", "attainment",
                            "score", "health", "status", "forecast", "forecast_attainment", "forecast_status",
                            "elapsed", "parent"}
    assert (latency["subject"], latency["actual"], latency["status"]) == ("platform", 300.0, "off_track")
    team = next(r for r in data["results"] if r["kind"] == "objective" and r["key"] == "team")
    assert team["parent"] == {"kind": "objective", "key": "company"}
    text = StringIO()
    call_command("evaluate", "--as-of", "2026-07-02", "--period", "fy2026", stdout=text)
    assert "latency" in text.getvalue() and "off_track" in text.getvalue()


def test_evaluate_command_names_unknown_periods(org, plan):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="unknown period fy1999"):
        call_command("evaluate", "--period", "fy1999")


def test_a_check_in_rescores_its_chain_at_once(org, plan, django_capture_on_commit_callbacks):
    objective = goals.do_create_objective(key="mine", title="Mine", subject=org.people["employee"].subject,
                                          period=plan["fy"], acting_user=org.employee)
    kr = goals.do_create_key_result(key="kr-mine", objective=objective, title="Do it", acting_user=org.employee)
    with django_capture_on_commit_callbacks(execute=True):
        goals.do_check_in(objective=objective, key_result=kr, progress=50, acting_user=org.employee)
    latest = ScoreSnapshot.objects.get(node_kind="objective", node_id=objective.pk)
    assert latest.score == pytest.approx(0.5)


def test_a_child_rolling_up_within_its_own_subject_counts_once_in_the_scorecard(org, plan):
    platform = org.units.platform.subject
    parent = goals.do_create_objective(key="parent", title="Parent", subject=platform, period=plan["fy"],
                                       acting_user=org.admin)
    goals.do_update_objective(plan["team"], parent=parent, acting_user=org.admin)
    ingest(org, ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 300))
    result = evaluate(as_of=MID_YEAR, period_keys=["fy2026"], store=False)
    scorecard = next(n for n in result.nodes if n.kind == "scorecard" and n.subject_id == platform.pk)
    # Only the parent counts directly; its one child is inside it. Both have the same progress.
    assert scorecard.score == pytest.approx(node(result, "objective", "parent").score)
    perspective = [n for n in result.nodes if n.kind == "perspective" and n.subject_id == platform.pk]
    assert perspective == []  # the team objective's perspective is reached only through its parent


def test_incremental_runs_keep_other_subjects_perspective_snapshots(org, plan):
    other = goals.do_create_objective(key="web-obj", title="Web", subject=org.units.web.subject, period=plan["fy"],
                                      perspective=goals.Perspective.objects.get(key="internal-process"),
                                      acting_user=org.admin)
    goals.do_create_key_result(key="kr-web", objective=other, title="Web", measure=plan["deploys"],
                               acting_user=org.admin)
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    before = ScoreSnapshot.objects.filter(node_kind="perspective").count()
    assert before == 2
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"], measure_ids=[plan["latency"].pk])
    assert ScoreSnapshot.objects.filter(node_kind="perspective", subject=org.units.web.subject).count() == 1


def snapshot_ids(**filters) -> dict[tuple[str, int, int], int]:
    return {(s.node_kind, s.node_id, s.subject_id): s.pk for s in ScoreSnapshot.objects.filter(**filters)}


def test_a_later_run_on_the_same_day_replaces_the_days_rows(org, plan):
    ingest(org, ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 300))
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    first = snapshot_ids()
    ingest(org, ObservationIn("latency", datetime(2026, 6, 1, 6, tzinfo=UTC), 250))
    later = MID_YEAR.replace(hour=13)
    evaluate(as_of=later, period_keys=["fy2026"])
    assert snapshot_ids().keys() == first.keys()  # still one row per node and day
    latency = ScoreSnapshot.objects.get(node_kind="measure", node_id=plan["latency"].pk)
    assert (latency.actual, latency.as_of) == (250, later)
    assert set(ScoreSnapshot.objects.values_list("as_of", flat=True)) == {later}


def test_a_full_run_drops_the_days_rows_of_nodes_that_left_the_plan(org, plan):
    spare = goals.do_create_objective(key="spare", title="Spare", subject=org.units.platform.subject,
                                      period=plan["fy"], acting_user=org.admin)
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    assert ScoreSnapshot.objects.filter(node_kind="objective", node_id=spare.pk).exists()
    goals.do_deactivate_objective(spare, acting_user=org.admin)
    evaluate(as_of=MID_YEAR.replace(hour=15), period_keys=["fy2026"])
    assert not ScoreSnapshot.objects.filter(node_kind="objective", node_id=spare.pk).exists()
    assert ScoreSnapshot.objects.filter(node_kind="objective", node_id=plan["team"].pk).count() == 1


def test_a_parent_in_another_period_is_upserted_not_duplicated(org, plan):
    quarter = goals.Period.objects.get(key="fy2026-q3")
    child = goals.do_create_objective(key="q3", title="Q3 push", subject=org.units.platform.subject,
                                      period=quarter, parent=plan["company"], rolls_up=True, acting_user=org.admin)
    goals.do_create_key_result(key="kr-q3", objective=child, title="Deploys", measure=plan["deploys"],
                               acting_user=org.admin)
    ingest(org, ObservationIn("deploys", datetime(2026, 7, 2, tzinfo=UTC), 10))
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    evaluate(as_of=MID_YEAR, period_keys=["fy2026-q3"])  # the company objective (fy2026) is re-scored as a parent
    evaluate(as_of=MID_YEAR.replace(hour=20), period_keys=["fy2026-q3"])
    company = ScoreSnapshot.objects.filter(node_kind="objective", node_id=plan["company"].pk)
    assert company.count() == 1
    assert ScoreSnapshot.objects.filter(node_kind="objective", node_id=plan["team"].pk).count() == 1


def test_an_incremental_run_rewrites_only_the_given_measures_and_their_chain(org, plan):
    ingest(org, ObservationIn("deploys", datetime(2026, 2, 1, tzinfo=UTC), 300),
           ObservationIn("latency", datetime(2026, 6, 1, tzinfo=UTC), 300))
    evaluate(as_of=MID_YEAR, period_keys=["fy2026"])
    later = MID_YEAR.replace(hour=14)
    result = evaluate(as_of=later, period_keys=["fy2026"], measure_ids=[plan["latency"].pk])
    written = {(s.node_kind, s.node_id) for s in ScoreSnapshot.objects.filter(as_of=later)}
    assert ("measure", plan["latency"].pk) in written and ("objective", plan["team"].pk) in written
    assert ("objective", plan["company"].pk) in written
    # deploys was re-scored to feed the team objective, but has no new data: its row is the full run's.
    assert ("measure", plan["deploys"].pk) not in written
    assert ("measure", "deploys") in {(n.kind, n.key) for n in result.nodes}
    assert result.stored == len(written)
