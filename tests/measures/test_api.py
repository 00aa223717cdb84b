"""The measures API: permission matrix, targets per polarity, validation."""

from northstar.measures.models import Measure, Target
from northstar.measures.services import do_create_measure
from tests.api.resources import APIResourceTests

COVERS = [Target]


def platform_measure(org):
    if not hasattr(org, "platform_measure"):
        org.platform_measure = do_create_measure(key="uptime", name="Uptime", subject=org.units.platform.subject,
                                                 acting_user=org.admin)
        org.private_measure = do_create_measure(key="pr-reviews", name="PR reviews", aggregation="count",
                                                subject=org.people["employee"].subject, acting_user=org.employee)
    return org.platform_measure


class TestMeasureAPI(APIResourceTests):
    model = Measure
    path = "/measures"
    writer = "service_owner"  # plans for the services of their team

    def existing(self, org):
        return platform_measure(org)

    def create_body(self, org):
        platform_measure(org)
        return {"key": "payments-errors", "name": "Payment errors", "subject": str(org.service.subject.uid),
                "polarity": "decrease", "aggregation": "sum", "metric_selector": 'errors_total{service="payments"}'}

    def update_body(self, org):
        return {"name": "Payment errors (5xx)", "unit": "errors"}

    def out_of_scope(self, org):
        platform_measure(org)
        return "outsider", org.private_measure


def test_targets_per_polarity(org, api, year):
    client = api(org.admin)
    uid = platform_measure(org).uid
    ok = client.request("put", f"/measures/{uid}/targets/fy2026", {"target": 0.999, "baseline": 0.99, "cap": 1.2})
    assert ok.status_code == 200, ok.content
    assert ok.json()["period"] == "fy2026" and ok.json()["cap"] == 1.2
    replaced = client.request("put", f"/measures/{uid}/targets/fy2026", {"target": 0.9995})
    assert replaced.json()["target"] == 0.9995
    assert Target.objects.count() == 1
    missing = client.request("put", f"/measures/{uid}/targets/fy2026-q1", {"baseline": 1})
    assert missing.status_code == 422 and "target" in missing.json()["error"]["fields"]
    too_big = client.request("put", f"/measures/{uid}/targets/fy2026-q1", {"target": 1, "cap": 3})
    assert too_big.status_code == 422 and "cap" in too_big.json()["error"]["fields"]
    thresholds = client.request("put", f"/measures/{uid}/targets/fy2026-q1", {"target": 1, "on_track": 0.9,
                                                                               "at_risk": 0.95})
    assert thresholds.status_code == 422 and "at_risk" in thresholds.json()["error"]["fields"]
    assert client.request("put", f"/measures/{uid}/targets/nope", {"target": 1}).status_code == 404
    assert [t["period"] for t in client.get(f"/measures/{uid}/targets").json()] == ["fy2026"]


def test_range_targets_need_both_bounds_in_order(org, api, year):
    measure = do_create_measure(key="temp", name="Temperature", polarity="range", subject=org.units.platform.subject,
                                acting_user=org.admin)
    client = api(org.admin)
    response = client.request("put", f"/measures/{measure.uid}/targets/fy2026", {"lower": 20})
    assert response.status_code == 422 and "upper" in response.json()["error"]["fields"]
    response = client.request("put", f"/measures/{measure.uid}/targets/fy2026", {"lower": 25, "upper": 20})
    assert response.status_code == 422
    assert client.request("put", f"/measures/{measure.uid}/targets/fy2026",
                          {"lower": 20, "upper": 25}).status_code == 200


def test_employee_cannot_set_targets_on_team_measures(org, api, year):
    uid = platform_measure(org).uid
    response = api(org.employee).request("put", f"/measures/{uid}/targets/fy2026", {"target": 1})
    assert response.status_code == 403


def test_bad_metric_selector_is_422(org, api):
    response = api(org.admin).post("/measures", {"key": "x", "name": "X", "subject": str(org.service.subject.uid),
                                                 "metric_selector": "bad{{"})
    assert response.status_code == 422 and "metric_selector" in response.json()["error"]["fields"]
