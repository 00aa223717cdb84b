"""The scores API: latest scores, scorecards, alignment, measure series, my goals and the overview.

Every response is validated against the OpenAPI document by the `api` client.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from northstar.measures.ingest import ObservationIn, do_ingest
from northstar.scoring.models import ScoreSnapshot
from tests.scoring.test_queries import build_plan

COVERS = [ScoreSnapshot]


@pytest.fixture
def plan(org):
    return build_plan(org)


def test_anonymous_gets_401_everywhere(org, plan, api):
    client = api()
    for path in ("/scores", f"/scorecards/{org.units.platform.subject.uid}", "/alignment",
                 f"/measures/{plan.deploys.uid}/series", "/my-goals", "/overview"):
        response = client.get(path)
        assert response.status_code == 401, path


def test_scores_lists_the_latest_snapshot_of_visible_nodes(org, plan, api):
    response = api(org.employee).get("/scores", period="cycle", limit=1000)
    assert response.status_code == 200
    rows = response.json()["items"]
    assert {r["day"] for r in rows} == {timezone.localdate().isoformat()}
    keys = {(r["kind"], r["key"]) for r in rows}
    assert ("objective", "mine") in keys and ("measure", "deploys") in keys
    assert ("objective", "deals") not in keys and ("objective", "vitals") not in keys
    mine = next(r for r in rows if r["key"] == "mine")
    assert mine["parent"] == {"kind": "objective", "key": "team"} and mine["subject"] == "E004"
    kr = next(r for r in rows if r["key"] == "kr-automate")
    assert kr["parent"] == {"kind": "objective", "key": "mine"} and kr["score"] == pytest.approx(0.6)


def test_scores_filters_by_subject_kind_and_status(org, plan, api):
    client = api(org.admin)
    subject = org.units.platform.subject.uid
    rows = client.get("/scores", period="cycle", subject=str(subject), kind="measure").json()["items"]
    assert sorted(r["key"] for r in rows) == ["deploys", "latency"]
    status = rows[0]["status"]
    filtered = client.get("/scores", period="cycle", status=status).json()
    assert filtered["count"] >= 1 and {r["status"] for r in filtered["items"]} == {status}
    assert client.get("/scores", period="nope").status_code == 422
    assert client.get("/scores", kind="nonsense").status_code == 422
    assert client.get("/scores").json()["count"] == client.get("/scores", period="cycle").json()["count"]


def test_scorecard(org, plan, api):
    response = api(org.employee).get(f"/scorecards/{org.units.platform.subject.uid}", period="cycle")
    assert response.status_code == 200
    card = response.json()
    assert card["subject"]["key"] == "platform" and card["period"]["key"] == "cycle"
    internal = next(p for p in card["perspectives"] if p["key"] == "internal-process")
    [team] = internal["objectives"]
    assert team["key"] == "team" and [kr["key"] for kr in team["key_results"]] == ["kr-deploys", "kr-latency"]
    assert len(team["score"]["history"]) == 3
    assert team["key_results"][1]["measure"]["unit"] == "ms"


def test_employee_cannot_see_another_teams_persons_scorecard(org, plan, api):
    response = api(org.employee).get(f"/scorecards/{org.people['web_dev'].subject.uid}")
    assert response.status_code == 404
    assert api(org.skip).get(f"/scorecards/{org.people['web_dev'].subject.uid}").status_code == 200


def test_alignment_is_a_preorder_tree(org, plan, api):
    nodes = api(org.employee).get("/alignment", period="cycle").json()["objectives"]
    assert [(n["key"], n["depth"]) for n in nodes] == [("company", 0), ("team", 1), ("mine", 2), ("web", 0)]
    by_key = {n["key"]: n for n in nodes}
    assert by_key["mine"]["parent"] == by_key["team"]["uid"] and by_key["web"]["parent"] is None
    assert by_key["company"]["children"] == 1 and by_key["team"]["subject"]["kind"] == "org_unit"


def test_series(org, plan, api):
    response = api(org.employee).get(f"/measures/{plan.deploys.uid}/series", period="cycle")
    assert response.status_code == 200
    series = response.json()
    assert [p["actual"] for p in series["points"]] == [20, 35]
    assert series["target"]["target"] == 100 and series["paced"] is True
    assert series["bands"][0] == {"status": "on_track", "lower": 100, "upper": None}
    assert series["latest"]["forecast"] is not None and len(series["history"]) == 3
    # Without a period: the measure's own (the one with its target).
    assert api(org.employee).get(f"/measures/{plan.deploys.uid}/series").json()["period"]["key"] == "cycle"


def test_series_of_an_invisible_measure_is_404(org, plan, api):
    assert api(org.employee).get(f"/measures/{plan.deals.key_results.get().measure.uid}/series").status_code == 404


def test_series_downsampling_bounds_the_point_count(org, plan, api):
    now = timezone.now()
    do_ingest([ObservationIn("deploys", now - timedelta(days=40) + timedelta(minutes=5 * i), 1)
               for i in range(2500)], source="api", acting_user=org.admin)
    series = api(org.manager).get(f"/measures/{plan.deploys.uid}/series", period="cycle").json()
    assert series["downsampled"] is True and series["observations"] == 2502
    assert len(series["points"]) <= 500
    assert sum(p["n"] for p in series["points"]) == 2502
    assert series["points"][-1]["actual"] == pytest.approx(35 + 2500)  # the running sum ends at the total


def test_my_goals(org, plan, api):
    data = api(org.employee).get("/my-goals").json()
    assert data["person"]["key"] == "E004"
    [group] = data["groups"]
    assert group["period"]["key"] == "cycle" and group["state"] == "current"
    [objective] = group["objectives"]
    assert objective["key"] == "mine" and objective["role"] == "owner"
    assert objective["key_results"][0]["score"]["score"] == pytest.approx(0.6)
    assert api(org.hr).get("/my-goals").json() == {"person": None, "groups": []}
    assert api(org.peer).get("/my-goals", period="cycle").json()["groups"][0]["objectives"][0]["role"] == "contributor"


def test_overview(org, plan, api):
    data = api(org.admin).get("/overview", period="cycle").json()
    assert data["unit"]["key"] == "acme"
    units = {u["unit"]["key"]: u["counts"]["total"] for u in data["units"]}
    assert units == {"eng": 4, "sales": 1}
    assert data["totals"]["total"] == 6 and data["own"]["total"] == 1
    drilled = api(org.employee).get("/overview", period="cycle", unit="eng").json()
    assert {u["unit"]["key"]: u["counts"]["total"] for u in drilled["units"]} == {"platform": 2, "web": 1}
    assert api(org.admin).get("/overview", unit="nope").status_code == 422
