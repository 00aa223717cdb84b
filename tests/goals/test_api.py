"""The plan API: periods, objectives (permission matrix), key results, check-ins."""

import pytest

from northstar.audit.models import AuditEvent
from northstar.goals import services
from northstar.goals.models import CheckIn, KeyResult, Objective, Period, Perspective
from northstar.measures.models import MeasureAggregate, Observation
from tests.api.resources import APIResourceTests

COVERS = [Period, Perspective, KeyResult, CheckIn]


@pytest.fixture
def fy(org):
    return {p.key: p for p in services.do_create_fiscal_year(2026, acting_user=org.hr)}


def team_objective(org):
    if not hasattr(org, "team_objective"):
        services.do_create_fiscal_year(2026, acting_user=org.hr)
        org.team_objective = services.do_create_objective(
            title="Reliable platform", subject=org.units.platform.subject, period=Period.objects.get(key="fy2026"),
            acting_user=org.admin)
        org.private_objective = services.do_create_objective(
            title="Learn Rust", subject=org.people["employee"].subject, period=Period.objects.get(key="fy2026"),
            acting_user=org.employee)
    return org.team_objective


class TestObjectiveAPI(APIResourceTests):
    model = Objective
    path = "/objectives"
    writer = "skip"  # heads Engineering (set in create_body), so plans for Platform below it

    def existing(self, org):
        return team_objective(org)

    def create_body(self, org):
        from northstar.directory.services import do_update_org_unit

        do_update_org_unit(org.units.eng, manager=org.people["skip"], acting_user=org.hr)
        team_objective(org)
        return {"title": "Faster deploys", "subject": str(org.units.platform.subject.uid), "period": "fy2026",
                "perspective": "internal-process", "parent": org.team_objective.key, "rolls_up": True}

    def update_body(self, org):
        return {"title": "Much faster deploys", "weight": 2.0}

    def out_of_scope(self, org):
        team_objective(org)
        return "outsider", org.private_objective


def test_fiscal_year_creates_year_quarters_and_months(org, api, settings):
    settings.FISCAL_YEAR_START_MONTH = 4
    response = api(org.hr).post("/periods/fiscal-year", {"year": 2027})
    assert response.status_code == 201
    periods = {p["key"]: p for p in response.json()}
    assert (periods["fy2027"]["start"], periods["fy2027"]["end"]) == ("2026-04-01", "2027-04-01")
    assert (periods["fy2027-q4"]["start"], periods["fy2027-q4"]["end"]) == ("2027-01-01", "2027-04-01")
    assert len(periods) == 17
    again = api(org.hr).post("/periods/fiscal-year", {"year": 2027})
    assert again.status_code == 201 and Period.objects.count() == 17
    assert api(org.employee).post("/periods/fiscal-year", {"year": 2028}).status_code == 403


def test_period_end_must_follow_start(org, api):
    response = api(org.hr).post("/periods", {"key": "bad", "name": "Bad", "start": "2026-02-01",
                                             "end": "2026-01-01"})
    assert response.status_code == 422


def test_default_perspectives(org, api):
    keys = [p["key"] for p in api(org.employee).get("/perspectives").json()]
    assert keys == ["financial", "customer", "internal-process", "learning-growth"]


def test_employee_plans_own_objective_and_one_off_key_result_with_check_ins(org, api, fy):
    client = api(org.employee)
    created = client.post("/objectives", {"title": "Grow as an engineer", "period": "fy2026",
                                          "subject": str(org.people["employee"].subject.uid)})
    assert created.status_code == 201, created.content
    uid = created.json()["uid"]
    kr = client.post(f"/objectives/{uid}/key-results", {"title": "Finish the course", "target_value": 10,
                                                         "unit": "modules"})
    assert kr.status_code == 201, kr.content
    assert kr.json()["measure"]["is_manual"] is True
    check_in = client.post(f"/objectives/{uid}/check-ins", {"key_result": kr.json()["uid"], "progress": 4,
                                                            "confidence": 7, "comment": "On my way"})
    assert check_in.status_code == 201, check_in.content
    assert Observation.objects.get().value == 4.0
    assert MeasureAggregate.objects.filter(period__key="fy2026").get().last_value == 4.0
    history = client.get(f"/objectives/{uid}/check-ins").json()["items"]
    assert [(c["progress"], c["confidence"], c["comment"]) for c in history] == [(4.0, 7, "On my way")]
    # The manager can read it, a peer on the team can see it; someone outside cannot.
    assert api(org.manager).get(f"/objectives/{uid}").status_code == 200
    assert api(org.outsider).get(f"/objectives/{uid}").status_code == 404
    assert AuditEvent.objects.filter(object_type="goals.checkin").count() == 1


def test_peer_cannot_check_in_unless_contributor(org, api, fy):
    objective = services.do_create_objective(title="Ship it", subject=org.people["employee"].subject,
                                             period=fy["fy2026"], acting_user=org.employee)
    body = {"comment": "Helping"}
    assert api(org.peer).post(f"/objectives/{objective.uid}/check-ins", body).status_code == 403
    api(org.employee).patch(f"/objectives/{objective.uid}", {"contributors": ["E005"]})
    assert api(org.peer).post(f"/objectives/{objective.uid}/check-ins", body).status_code == 201


def test_check_in_validation_names_fields(org, api, fy, measures_for_kr):
    objective, kpi_kr = measures_for_kr
    client = api(org.admin)
    response = client.post(f"/objectives/{objective.uid}/check-ins", {"key_result": str(kpi_kr.uid),
                                                                      "progress": 5})
    assert response.status_code == 422
    assert "comes from that data" in response.json()["error"]["fields"]["progress"][0]
    empty = client.post(f"/objectives/{objective.uid}/check-ins", {})
    assert empty.status_code == 422 and "__all__" in empty.json()["error"]["fields"]
    bad = client.post(f"/objectives/{objective.uid}/check-ins", {"confidence": 11})
    assert bad.status_code == 422 and "confidence" in bad.json()["error"]["fields"]


@pytest.fixture
def measures_for_kr(org, fy):
    from northstar.measures.services import do_create_measure

    measure = do_create_measure(key="nps", name="NPS", subject=org.units.platform.subject, acting_user=org.admin)
    objective = services.do_create_objective(title="Happy users", subject=org.units.platform.subject,
                                             period=fy["fy2026"], acting_user=org.admin)
    kr = services.do_create_key_result(objective=objective, title="NPS 50", measure=measure,
                                       acting_user=org.admin)
    return objective, kr


def test_alignment_cycle_is_refused(org, api, fy):
    client = api(org.admin)
    subject = str(org.units.platform.subject.uid)
    a = client.post("/objectives", {"title": "A", "key": "a", "subject": subject, "period": "fy2026"}).json()
    client.post("/objectives", {"title": "B", "key": "b", "subject": subject, "period": "fy2026", "parent": "a"})
    response = client.patch(f"/objectives/{a['uid']}", {"parent": "b"})
    assert response.status_code == 422
    assert "cycle" in response.json()["error"]["fields"]["parent"][0]


def test_unknown_references_name_the_field(org, api, fy):
    response = api(org.admin).post("/objectives", {"title": "X", "subject": str(org.units.platform.subject.uid),
                                                   "period": "fy1999", "owner": "E999"})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"period", "owner"}


def test_admins_configure_perspectives(org, api):
    created = api(org.admin).post("/perspectives", {"key": "sustainability", "name": "Sustainability", "order": 5})
    assert created.status_code == 201
    renamed = api(org.admin).patch("/perspectives/sustainability", {"weight": 2})
    assert renamed.json()["weight"] == 2
    assert api(org.hr).post("/perspectives", {"key": "x", "name": "X"}).status_code == 403
    assert api(org.hr).patch("/perspectives/sustainability", {"weight": 3}).status_code == 403
