"""The directory API: permissions per resource, private fields, filters, pagination, errors."""

from northstar.directory.models import OrgUnit, Person, Process, Service, Subject
from tests.api.resources import APIResourceTests

COVERS = [Subject]


class TestOrgUnitAPI(APIResourceTests):
    model = OrgUnit
    path = "/org-units"
    writer = "hr"
    create_payload = {"key": "data", "name": "Data", "kind": "team", "parent": "eng"}
    update_payload = {"name": "Data Platform", "parent": "acme"}

    def existing(self, org):
        return org.units.platform


class TestPersonAPI(APIResourceTests):
    model = Person
    path = "/people"
    writer = "hr"
    create_payload = {"employee_id": "E100", "name": "Nina New", "email": "nina@acme.test", "manager": "E003",
                      "org_unit": "platform", "hire_date": "2026-11-02"}
    update_payload = {"job_title": "Senior Engineer", "org_unit": "web"}

    def existing(self, org):
        return org.people["peer"]

    def out_of_scope(self, org):
        return "outsider", org.people["employee"]


class TestServiceAPI(APIResourceTests):
    model = Service
    path = "/services"
    writer = "service_owner"
    create_payload = {"key": "ledger", "name": "Ledger", "tier": 0, "owner_team": "platform"}
    update_payload = {"description": "Double-entry ledger", "tier": 1}

    def existing(self, org):
        return org.service


class TestProcessAPI(APIResourceTests):
    model = Process
    path = "/processes"
    create_payload = {"key": "invoicing", "name": "Invoicing", "owner_team": "sales"}
    update_payload = {"description": "Monthly invoicing run"}

    def existing(self, org):
        return org.process


def test_peer_private_fields_are_withheld(org, api):
    body = api(org.peer).get(f"/people/{org.people['employee'].uid}").json()
    assert body["private_visible"] is False
    assert body["location"] is None and body["hire_date"] is None and body["employment_status"] is None
    assert body["email"] == "employee@acme.test"


def test_manager_sees_reports_private_fields(org, api):
    body = api(org.skip).get(f"/people/{org.people['employee'].uid}").json()
    assert body["private_visible"] is True
    assert body["location"] == "Lisbon" and body["hire_date"] == "2020-01-06"


def test_people_list_withholds_private_fields_per_row(org, api):
    items = {p["employee_id"]: p for p in api(org.employee).get("/people", limit=100).json()["items"]}
    assert items["E004"]["private_visible"] is True
    assert items["E005"]["private_visible"] is False


def test_people_search_filters_and_pagination(org, api):
    client = api(org.hr)
    assert [p["name"] for p in client.get("/people", q="wendy").json()["items"]] == ["Wendy Web"]
    assert {p["employee_id"] for p in client.get("/people", org_unit="platform").json()["items"]} == {
        "E003", "E004", "E005", "E006"}
    manager_uid = org.people["manager"].uid
    assert len(client.get("/people", manager=str(manager_uid)).json()["items"]) == 3
    page = client.get("/people", limit=3, offset=3).json()
    assert page["count"] == 8 and len(page["items"]) == 3


def test_deactivated_people_leave_the_default_list(org, api):
    client = api(org.hr)
    assert client.post(f"/people/{org.people['peer'].uid}/deactivate").status_code == 200
    listed = {p["employee_id"] for p in client.get("/people", limit=100).json()["items"]}
    assert "E005" not in listed
    assert "E005" in {p["employee_id"] for p in client.get("/people", include_inactive=True, limit=100)
                      .json()["items"]}


def test_duplicate_employee_id_is_409(org, api):
    response = api(org.hr).post("/people", {"employee_id": "E004", "name": "Dup", "email": "d@acme.test"})
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {"employee_id": ["Already in use."]}


def test_unknown_reference_is_422_naming_the_field(org, api):
    response = api(org.hr).post("/people", {"employee_id": "E101", "name": "X", "email": "x@acme.test",
                                            "manager": "E999"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["manager"] == ["No person with employee id 'E999'."]


def test_bad_email_is_422(org, api):
    response = api(org.hr).post("/people", {"employee_id": "E102", "name": "X", "email": "not-an-email"})
    assert response.status_code == 422
    assert "email" in response.json()["error"]["fields"]


def test_manager_cycle_is_refused_and_nothing_changes(org, api):
    response = api(org.hr).patch(f"/people/{org.people['skip'].uid}", {"manager": "E004"})
    assert response.status_code == 422
    assert "cycle" in response.json()["error"]["fields"]["manager"][0]
    org.people["skip"].refresh_from_db()
    assert org.people["skip"].manager == org.people["ceo"]


def test_moving_a_manager_moves_their_whole_chain(org, api):
    response = api(org.hr).patch(f"/people/{org.people['manager'].uid}", {"manager": "E001"})
    assert response.status_code == 200
    employee = Person.objects.get(employee_id="E004")
    ceo, manager = org.people["ceo"], org.people["manager"]
    assert employee.manager_path == f"/{ceo.pk}/{manager.pk}/{employee.pk}/"


def test_malformed_json_is_400_with_error_body(org, api):
    response = api(org.hr).post("/people", raw="{not json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "bad_request", "message": "The request body is not valid JSON.",
                                         "fields": {}}}


def test_wrong_types_are_422_naming_each_field(org, api):
    response = api(org.hr).post("/services", {"key": "x", "name": "X", "tier": "high", "owner_team": 5})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"tier", "owner_team"}


def test_missing_required_fields_are_422(org, api):
    response = api(org.hr).post("/people", {"name": "No id"})
    assert response.status_code == 422
    assert {"employee_id", "email"} <= set(response.json()["error"]["fields"])


def test_bad_query_parameter_is_422(org, api):
    response = api(org.hr).get("/people", limit="many")
    assert response.status_code == 422
    assert "limit" in response.json()["error"]["fields"]


def test_unknown_field_in_update_is_ignored_not_500(org, api):
    response = api(org.hr).patch(f"/people/{org.people['peer'].uid}", {"salary": 1})
    assert response.status_code == 200


def test_subjects_listed_per_visibility(org, api):
    kinds = [s["kind"] for s in api(org.outsider).get("/subjects", limit=100).json()["items"]]
    assert kinds.count("person") == 2 and kinds.count("service") == 2 and kinds.count("org_unit") == 5
    persons = api(org.outsider).get("/subjects", kind="person").json()["items"]
    assert {s["name"] for s in persons} == {"Casey Chief", "Oscar Outsider"}


def test_heads_and_managers_outside_your_view_are_not_named(org, api):
    from northstar.directory import services

    services.do_update_org_unit(org.units.sales, manager=org.people["outsider"], acting_user=org.hr)
    sales = api(org.employee).get(f"/org-units/{org.units.sales.uid}").json()
    assert sales["manager"] is None
    assert api(org.hr).get(f"/org-units/{org.units.sales.uid}").json()["manager"]["employee_id"] == "E008"
    web_dev = api(org.hr).get(f"/people/{org.people['web_dev'].uid}").json()
    assert web_dev["manager"]["employee_id"] == "E002"
