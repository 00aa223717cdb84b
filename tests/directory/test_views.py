"""Directory pages: people, person, org chart, teams, services and processes."""

import csv
import io

import pytest

from northstar.directory import services
from northstar.directory.models import OrgUnit, Person, Process, Service
from northstar.directory.views import _org_nodes

COVERS = [Person, OrgUnit, Service, Process]

HTMX = {"HX-Request": "true"}


@pytest.fixture
def browse(client):
    """`browse(user)`: the test client logged in as `user`."""
    def login(user):
        client.force_login(user)
        return client
    return login


def text(response) -> str:
    return response.content.decode()


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def assert_vary_hx(response):
    assert "HX-Request" in response.get("Vary", ""), response.get("Vary")


# -- people directory ------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, org):
    response = client.get("/people/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_people_directory_lists_the_team(org, browse):
    response = browse(org.employee).get("/people/")
    assert response.status_code == 200
    page = text(response)
    assert "<html" in page
    for name in ("Erin Employee", "Pat Peer", "Morgan Manager", "Sol Owner"):
        assert name in page
    assert "Wendy Web" not in page  # another team
    assert_vary_hx(response)


def test_outsider_does_not_see_platform_people_in_search(org, browse):
    client = browse(org.outsider)
    page = text(client.get("/people/", {"q": "e"}))
    assert "Oscar Outsider" in page
    for name in ("Erin Employee", "Pat Peer", "Morgan Manager", "Sol Owner"):
        assert name not in page
    page = text(client.get("/people/", {"q": "Erin"}))
    assert "Erin Employee" not in page
    assert "No people match “Erin”" in page


def test_htmx_search_returns_only_the_results_partial(org, browse):
    response = browse(org.employee).get("/people/", {"q": "pat"}, headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page
    assert 'id="people-filters"' not in page  # the form stays on the page
    assert "Pat Peer" in page
    assert "Erin Employee" not in page
    assert_vary_hx(response)


def test_history_restore_gets_the_full_page(org, browse):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    response = browse(org.employee).get("/people/", {"q": "pat"}, headers=headers)
    assert "<html" in text(response)
    assert_vary_hx(response)


def test_people_can_be_filtered_by_team_and_sorted(org, browse):
    client = browse(org.admin)
    page = text(client.get("/people/", {"within": "platform"}))
    assert "Erin Employee" in page
    assert "Wendy Web" not in page
    page = text(client.get("/people/", {"sort": "-name"}))
    assert page.index("Wendy Web") < page.index("Casey Chief")
    assert 'aria-sort="descending"' in page


def test_status_filter_is_only_for_those_who_read_private_fields(org, browse, admin):
    services.do_deactivate_person(org.people["peer"], acting_user=admin)
    hr_page = text(browse(org.hr).get("/people/", {"status": "terminated"}))
    assert "Pat Peer" in hr_page
    assert "Erin Employee" not in hr_page
    employee_page = text(browse(org.employee).get("/people/", {"status": "terminated"}))
    assert 'name="status"' not in employee_page
    assert "Pat Peer" not in employee_page  # the filter is ignored; terminated people stay hidden
    assert "Erin Employee" in employee_page


def test_people_are_paginated(org, browse, admin):
    for n in range(55):
        services.do_create_person(employee_id=f"X{n:03}", name=f"Zed {n:03}", email=f"z{n}@acme.test",
                                  acting_user=admin)
    client = browse(org.admin)
    first = text(client.get("/people/"))
    assert "Page 1 of 2" in first
    assert "Zed 054" not in first
    second = text(client.get("/people/", {"page": 2}, headers=HTMX))
    assert "Zed 054" in second
    assert "Casey Chief" not in second


def test_private_status_is_shown_only_where_allowed(org, browse):
    page = text(browse(org.employee).get("/people/", {"q": "Pat"}))
    assert "Not shown" in page
    assert "chip-ok" not in page
    page = text(browse(org.manager).get("/people/", {"q": "Pat"}))
    assert '<span class="chip chip-ok">Active</span>' in page


def test_people_export_contains_only_visible_rows(org, browse):
    response = browse(org.outsider).get("/people/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    names = {row["name"] for row in csv_rows(response)}
    assert names == {"Casey Chief", "Oscar Outsider"}


def test_people_export_follows_the_search_and_withholds_private_fields(org, browse):
    rows = csv_rows(browse(org.employee).get("/people/export.csv", {"within": "platform"}))
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"Erin Employee", "Pat Peer", "Morgan Manager", "Sol Owner"}
    assert by_name["Erin Employee"]["location"] == "Lisbon"
    assert by_name["Pat Peer"]["location"] == ""
    assert by_name["Pat Peer"]["hire_date"] == ""
    assert by_name["Pat Peer"]["manager"] == "Morgan Manager"
    rows = csv_rows(browse(org.employee).get("/people/export.csv", {"q": "Pat"}))
    assert [row["name"] for row in rows] == ["Pat Peer"]


def test_export_neutralises_spreadsheet_formulas(org, browse, admin):
    services.do_update_person(org.people["peer"], job_title="=HYPERLINK(\"x\")", acting_user=admin)
    rows = csv_rows(browse(org.admin).get("/people/export.csv", {"q": "Pat"}))
    assert rows[0]["job_title"] == "'=HYPERLINK(\"x\")"


# -- person page -----------------------------------------------------------------------------


def test_person_page_shows_details_chain_and_private_fields_to_self(org, browse):
    employee = org.people["employee"]
    page = text(browse(org.employee).get(f"/people/{employee.uid}/"))
    assert "<h1>Erin Employee</h1>" in page
    assert "employee@acme.test" in page
    assert "Lisbon" in page
    assert "6 January 2020" in page
    assert f'href="/people/{org.people["manager"].uid}/"' in page
    # The reporting chain is the breadcrumb, top down.
    assert page.index("Casey Chief") < page.index("Sam Skip") < page.index("Morgan Manager")
    assert f'href="/org/{org.units.platform.uid}/"' in page


def test_employee_does_not_see_private_fields_of_a_peer(org, browse):
    page = text(browse(org.employee).get(f"/people/{org.people['peer'].uid}/"))
    assert "Pat Peer" in page
    assert "Lisbon" not in page
    assert "2020" not in page
    assert "Employment details are private" in page


def test_manager_and_hr_see_private_fields(org, browse):
    uid = org.people["employee"].uid
    for user in (org.manager, org.skip, org.hr, org.auditor):
        assert "Lisbon" in text(browse(user).get(f"/people/{uid}/")), user


def test_employee_gets_404_for_another_teams_person(org, browse):
    response = browse(org.employee).get(f"/people/{org.people['web_dev'].uid}/")
    assert response.status_code == 404
    assert "Page not found" in text(response)


def test_person_page_lists_direct_reports(org, browse):
    page = text(browse(org.manager).get(f"/people/{org.people['manager'].uid}/"))
    for name in ("Erin Employee", "Pat Peer", "Sol Owner"):
        assert name in page
    page = text(browse(org.employee).get(f"/people/{org.people['employee'].uid}/"))
    assert "No direct reports." in page


# -- org chart and team pages ----------------------------------------------------------------


def test_org_chart_shows_roots_open_and_loads_deeper_units_on_expand(org, browse):
    response = browse(org.employee).get("/org/")
    assert response.status_code == 200
    page = text(response)
    assert "Acme" in page and "Engineering" in page and "Sales" in page
    assert "Platform" not in page  # below the first level: loaded when opened
    assert f'hx-get="/org/{org.units.eng.uid}/children/"' in page
    assert_vary_hx(response)


def test_org_children_partial(org, browse):
    client = browse(org.employee)
    response = client.get(f"/org/{org.units.eng.uid}/children/", headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page
    assert "Platform" in page and "Web" in page
    assert_vary_hx(response)
    # Opened without htmx, it is the team page.
    response = client.get(f"/org/{org.units.eng.uid}/children/")
    assert response.status_code == 302
    assert response["Location"] == f"/org/{org.units.eng.uid}/"


def test_org_chart_counts_only_visible_people(org):
    units = OrgUnit.objects.filter(key__in=["acme", "eng", "sales"]).order_by("key")
    admin_counts = {node.unit.key: node.people for node in _org_nodes(org.admin, units)}
    outsider_counts = {node.unit.key: node.people for node in _org_nodes(org.outsider, units)}
    assert admin_counts == {"acme": 8, "eng": 6, "sales": 1}
    assert outsider_counts == {"acme": 2, "eng": 0, "sales": 1}


def test_team_page_shows_ancestors_members_and_owned_services(org, browse):
    response = browse(org.employee).get(f"/org/{org.units.platform.uid}/")
    assert response.status_code == 200
    page = text(response)
    assert page.index("Acme") < page.index("Engineering") < page.index("<h1>Platform")
    for name in ("Erin Employee", "Pat Peer", "Morgan Manager", "Sol Owner"):
        assert name in page
    assert "Payments API" in page
    assert "No processes owned." in page


def test_team_page_shows_only_visible_members(org, browse):
    page = text(browse(org.outsider).get(f"/org/{org.units.platform.uid}/"))
    assert "Erin Employee" not in page
    assert "No members you can see" in page
    page = text(browse(org.outsider).get(f"/org/{org.units.sales.uid}/"))
    assert "Oscar Outsider" in page and "CRM" in page and "Customer onboarding" in page


def test_unknown_team_is_404(org, browse):
    assert browse(org.employee).get(f"/org/{org.people['employee'].uid}/").status_code == 404


# -- services and processes ------------------------------------------------------------------


def test_services_list_search_and_page(org, browse):
    client = browse(org.employee)
    page = text(client.get("/services/"))
    assert "Payments API" in page and "CRM" in page
    response = client.get("/services/", {"q": "pay"}, headers=HTMX)
    assert "<html" not in text(response)
    assert "Payments API" in text(response) and "CRM" not in text(response)
    assert_vary_hx(response)
    assert "No services match “nothing”" in text(client.get("/services/", {"q": "nothing"}))
    page = text(client.get(f"/services/{org.service.uid}/"))
    assert "Tier 1: business critical" in page and "Platform" in page


def test_inactive_services_are_hidden_unless_asked_for(org, browse, admin):
    services.do_deactivate_service(org.other_service, acting_user=admin)
    client = browse(org.employee)
    assert "CRM" not in text(client.get("/services/"))
    page = text(client.get("/services/", {"include_inactive": "on"}))
    assert "CRM" in page and "Inactive" in page


def test_services_export(org, browse):
    rows = csv_rows(browse(org.employee).get("/services/export.csv", {"owner_team": "platform"}))
    assert [(row["key"], row["tier"], row["owner_team"]) for row in rows] == [("payments", "1", "Platform")]


def test_processes_list_page_and_export(org, browse):
    client = browse(org.web_dev)
    assert "Customer onboarding" in text(client.get("/processes/"))
    page = text(client.get(f"/processes/{org.process.uid}/"))
    assert "Customer onboarding" in page and "Sales" in page
    rows = csv_rows(client.get("/processes/export.csv"))
    assert [row["key"] for row in rows] == ["onboarding"]


def test_unknown_service_and_process_are_404(org, browse):
    client = browse(org.employee)
    assert client.get(f"/services/{org.process.uid}/").status_code == 404
    assert client.get(f"/processes/{org.service.uid}/").status_code == 404


# -- the shell -------------------------------------------------------------------------------


def test_navigation_shows_audit_and_import_only_to_those_allowed(org, browse):
    page = text(browse(org.employee).get("/people/"))
    assert 'href="/audit/"' not in page
    assert 'href="/api/v1/docs"' in page
    assert 'action="/logout/"' in page and 'method="post"' in page
    page = text(browse(org.auditor).get("/people/"))
    assert 'href="/audit/"' in page


def test_pages_have_no_inline_scripts_or_styles(org, browse):
    client = browse(org.admin)
    urls = ["/people/", f"/people/{org.people['employee'].uid}/", "/org/", f"/org/{org.units.eng.uid}/",
            "/services/", f"/services/{org.service.uid}/", "/processes/", f"/processes/{org.process.uid}/",
            "/tokens/"]
    for url in urls:
        page = text(client.get(url))
        assert "style=" not in page, url
        assert " onclick=" not in page, url
        for chunk in page.split("<script")[1:]:
            assert chunk.lstrip().startswith("src="), url


def test_unit_filter_takes_in_the_units_below(org, browse):
    page = text(browse(org.hr).get("/people/", {"within": "eng"}))
    assert "Wendy Web" in page and "Erin Employee" in page and "Oscar Outsider" not in page


def test_large_organisations_list_only_the_top_levels_in_the_unit_filter(org, monkeypatch):
    from northstar.directory import services, views

    services.do_create_org_unit(key="sre", name="SRE", parent=org.units.platform, acting_user=org.hr)
    assert "sre" in [key for key, _label in views._unit_choices(org.hr)]
    monkeypatch.setattr(views, "FULL_UNIT_LIST_MAX", 3)
    keys = [key for key, _label in views._unit_choices(org.hr)]
    assert {"acme", "eng", "platform", "web", "sales"} == set(keys)  # depth 3 (SRE) left out
