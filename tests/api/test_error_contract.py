"""The API answers with its error body everywhere, including where Django itself answers."""

import json

from django.test import Client

from northstar.core.models import ApiToken

ERROR_KEYS = {"code", "message", "fields"}


def body(response):
    return json.loads(response.content)["error"]


def test_unknown_api_paths_are_404_with_the_error_body(db):
    for path in ("/api/v1/nonexistent", "/api/v1/people/extra/deep"):
        response = Client().get(path)
        assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
        assert set(body(response)) == ERROR_KEYS and body(response)["code"] == "not_found"


def test_wrong_method_is_405_with_the_error_body(org):
    client = Client()
    client.force_login(org.hr)
    response = client.delete("/api/v1/people")
    assert response.status_code == 405 and body(response)["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_write_without_credentials_is_401_not_a_csrf_failure(org, api):
    response = api().post("/people", {"employee_id": "X", "name": "X", "email": "x@acme.test"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_empty_body_is_400(org, api):
    response = api(org.hr).post("/people", raw="")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The request body is empty; send a JSON object."


def test_a_bad_token_is_told_so(org, api):
    response = api(token="nst_000000000000_nonsense").get("/me")
    assert response.status_code == 401
    assert "expired or revoked" in response.json()["error"]["message"]


def test_basic_credentials_are_not_logged(org, api, caplog):
    client = api()
    client.headers["Authorization"] = "Basic Zm9vOmJhcg=="
    assert client.get("/me").status_code == 401
    assert "Zm9vOmJhcg" not in caplog.text


def test_private_status_filters_are_ignored_for_employees(org, api):
    from northstar.directory.services import do_update_person

    do_update_person(org.people["peer"], employment_status="on_leave", acting_user=org.hr)
    on_leave = api(org.employee).get("/people", status="on_leave", limit=100).json()["items"]
    assert len(on_leave) > 1  # the filter was ignored: it would have revealed who is on leave
    with_inactive = api(org.employee).get("/people", include_inactive=True, limit=100).json()["count"]
    assert with_inactive == api(org.employee).get("/people", limit=100).json()["count"]
    assert [p["employee_id"] for p in api(org.hr).get("/people", status="on_leave").json()["items"]] == ["E005"]


def test_a_manager_with_active_reports_cannot_be_deactivated(org, api):
    response = api(org.hr).post(f"/people/{org.people['manager'].uid}/deactivate")
    assert response.status_code == 409
    assert "3 active direct report(s)" in response.json()["error"]["message"]


def test_tokens_cannot_be_edited_in_the_admin_only_revoked(org, client, token_for):
    token_for(org.employee)
    token = ApiToken.objects.get()
    client.force_login(org.admin)
    response = client.post(f"/admin/core/apitoken/{token.pk}/change/",
                           {"user": org.admin.pk, "name": "x", "scope": "write"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.user == org.employee
    client.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked is not None
