"""POST /plan/apply: the plan as the body or as an upload, dry run by default, errors by line."""

from urllib.parse import urlencode

import pytest

from northstar.audit.models import AuditEvent
from northstar.goals.models import KeyResult, Objective
from northstar.measures.models import Measure
from tests.goals.test_plan import PLAN, TEAM_PLAN, line_of
from tests.openapi import API_PREFIX, check_response


def post_body(client, text: str, content_type: str = "application/yaml", **params):
    """POST the plan as the raw request body, checking the answer against the OpenAPI document."""
    url = f"{API_PREFIX}/plan/apply" + (f"?{urlencode(params)}" if params else "")
    response = client.client.post(url, text, content_type=content_type, headers=client.headers)
    check_response(url, "post", response.status_code, response.get("Content-Type", ""), response.content)
    return response


def test_dry_run_is_the_default_and_returns_the_diff(org, api):
    client = api(org.admin)  # logging in is audited: count after it
    before = Objective.objects.count(), AuditEvent.objects.count()
    r = post_body(client, PLAN)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["dry_run"] is True and body["applied"] is False and body["file_name"] == "plan.yaml"
    assert body["counts"] == {"create": 27, "update": 0, "unchanged": 0, "keep": 0}
    measure = next(c for c in body["changes"] if c["kind"] == "measure" and c["key"] == "deploys")
    assert measure["action"] == "create" and measure["line"] == line_of(PLAN, "- key: deploys")
    assert {"field": "subject", "before": None, "after": "orgUnit:platform"} in measure["changes"]
    assert (Objective.objects.count(), AuditEvent.objects.count()) == before


def test_apply_as_body_then_the_same_file_changes_nothing(org, api):
    client = api(org.admin)
    r = post_body(client, PLAN, dry_run="false")
    assert r.status_code == 200, r.content
    assert r.json()["applied"] is True
    assert KeyResult.objects.get(key="postmortems").measure.is_manual
    r = post_body(client, PLAN, dry_run="false")
    assert r.json()["applied"] is False and r.json()["changes"] == []
    assert r.json()["counts"] == {"create": 0, "update": 0, "unchanged": 27, "keep": 0}


def test_an_update_shows_before_and_after(org, api):
    client = api(org.admin)
    post_body(client, PLAN, dry_run="false")
    r = post_body(client, PLAN.replace("weight: 2", "weight: 2.5"), content_type="text/plain")
    assert r.json()["changes"] == [{
        "action": "update", "kind": "objective", "key": "platform-reliability",
        "line": line_of(PLAN, "- key: platform-reliability"),
        "changes": [{"field": "weight", "before": 2, "after": 2.5}]}]
    assert Objective.objects.get(key="platform-reliability").weight == 2


def test_upload_as_multipart_file(org, api):
    r = api(org.admin).upload("/plan/apply", "fy2027.yaml", PLAN.encode(), dry_run="false")
    assert r.status_code == 200, r.content
    assert r.json()["file_name"] == "fy2027.yaml" and r.json()["applied"] is True
    assert Measure.objects.filter(key="deploys").exists()


def test_a_json_body_is_a_plan_too(org, api):
    plan = ('{"apiVersion": "northstar/v1", "periods": [{"key": "h1", "name": "H1", "start": "2027-01-01", '
            '"end": "2027-07-01"}]}')
    r = api(org.admin).post("/plan/apply?dry_run=false", raw=plan)
    assert r.status_code == 200, r.content
    assert r.json()["counts"]["create"] == 1


def test_errors_answer_422_with_file_and_line_in_fields(org, api):
    text = PLAN.replace("{orgUnit: platform}\n    unit", "{orgUnit: platfrom}\n    unit").replace(
        "weight: 2", "weight: two")
    client = api(org.admin)
    before = AuditEvent.objects.count()
    r = post_body(client, text, dry_run="false", file_name="plans/fy2027.yaml")
    assert r.status_code == 422, r.content
    assert r.json()["error"] == {
        "code": "invalid",
        "message": "plans/fy2027.yaml has 2 errors; nothing was applied.",
        "fields": {
            f"plans/fy2027.yaml:{line_of(text, 'platfrom')}": [
                "measure 'deploys': unknown subject org unit 'platfrom'"],
            f"plans/fy2027.yaml:{line_of(text, 'weight: two')}": [
                "objective 'platform-reliability': 'weight' must be a number, not 'two'"],
        },
    }
    assert AuditEvent.objects.count() == before


def test_upload_errors_use_the_uploaded_name(org, api):
    r = api(org.admin).upload("/plan/apply", "team.yaml", b"apiVersion: northstar/v1\nmeasures: [\n")
    assert r.status_code == 422
    [(where, messages)] = r.json()["error"]["fields"].items()
    assert where.startswith("team.yaml:") and messages[0].startswith("invalid YAML: ")


def test_a_change_the_user_may_not_make_answers_403_with_the_line(org, api):
    from northstar.goals.services import do_create_fiscal_year

    do_create_fiscal_year(2027, acting_user=org.hr)
    r = post_body(api(org.outsider), TEAM_PLAN, dry_run="false", file_name="team.yaml")
    assert r.status_code == 403, r.content
    assert r.json()["error"]["code"] == "forbidden"
    assert r.json()["error"]["fields"] == {
        "team.yaml:3": ["measure 'deploys': You may not plan measures for Org unit: Platform."]}
    assert not Measure.objects.filter(key="deploys").exists()


@pytest.mark.parametrize("scope", ["read", "write"])
def test_tokens_need_the_write_scope(org, api, token_for, scope):
    r = post_body(api(token=token_for(org.admin, scope=scope)), PLAN)
    assert r.status_code == (403 if scope == "read" else 200), r.content


def test_anonymous_is_refused(org, api):
    assert post_body(api(), PLAN).status_code == 401


def test_a_form_body_is_refused_and_a_missing_upload_named(org, api):
    client = api(org.admin)
    r = post_body(client, "apiVersion=northstar/v1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    url = f"{API_PREFIX}/plan/apply"
    response = client.client.post(url, {"other": "x"}, headers=client.headers)
    check_response(url, "post", response.status_code, response["Content-Type"], response.content)
    assert response.status_code == 422 and "file" in response.json()["error"]["fields"]
