"""The web UI shell in a real browser: login, live search, org chart, team and person pages.

Every test also checks that the browser saw no console error (a Content-Security-Policy
violation is one) and no uncaught JavaScript exception.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_failed_login_shows_the_error(org, page, console_problems):
    page.goto("/people/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/people/$"))
    page.get_by_label("Username").fill("employee")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/login/"))
    # The right password then goes where the user was heading.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/people/$"))
    assert console_problems == []


def test_login_lands_on_the_directory_and_logout_is_a_post(org, logged_in_page, console_problems):
    page = logged_in_page("employee")
    expect(page).to_have_url(re.compile(r"/people/$"))
    expect(page.get_by_role("heading", name="People", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="People")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    assert console_problems == []


def test_search_updates_the_table_in_place(org, logged_in_page, console_problems):
    page = logged_in_page("employee")
    rows = page.locator("#people-results tbody tr")
    expect(rows).to_have_count(6)  # the team and the chain above
    page.evaluate("window.northstarTestMarker = 'same document'")

    page.get_by_label("Search").fill("pat")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Pat Peer")
    expect(page).to_have_url(re.compile(r"/people/\?q=pat"))

    page.get_by_label("Search").fill("nobody-here")
    expect(page.locator("#people-results")).to_contain_text("No people match “nobody-here”")
    # htmx swapped the results: the page itself was never reloaded.
    assert page.evaluate("window.northstarTestMarker") == "same document"

    # Back restores the previous search (htmx fetches the whole page for it).
    page.go_back()
    expect(page).to_have_url(re.compile(r"/people/\?q=pat"))
    expect(rows).to_have_count(1)

    page.get_by_label("Search").fill("")
    expect(rows).to_have_count(6)  # the team and the chain above
    page.get_by_role("link", name="Name").click()  # sort by name, descending
    expect(rows.first).to_contain_text("Sol Owner")
    assert page.evaluate("window.northstarTestMarker") == "same document"
    assert console_problems == []


def test_org_chart_expands_a_node_and_opens_a_team(org, logged_in_page, console_problems):
    page = logged_in_page("employee")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Org chart").click()
    expect(page.get_by_role("heading", name="Org chart", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Engineering")).to_be_visible()
    expect(page.get_by_role("link", name="Platform")).to_have_count(0)

    # Open Engineering with its expand control (the summary, beside the link).
    engineering = page.locator("summary").filter(has=page.get_by_role("link", name="Engineering", exact=True))
    engineering.click(position={"x": 8, "y": 12})
    expect(page.get_by_role("link", name="Platform")).to_be_visible()
    expect(page.get_by_role("link", name="Web")).to_be_visible()

    page.get_by_role("link", name="Platform").click()
    expect(page.get_by_role("heading", name="Platform", level=1)).to_be_visible()
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    expect(breadcrumb).to_contain_text("Org chart")
    expect(breadcrumb).to_contain_text("Engineering")
    expect(page.get_by_role("link", name="Payments API")).to_be_visible()
    assert console_problems == []


def test_person_page(org, logged_in_page, console_problems):
    page = logged_in_page("manager")
    page.goto(f"/org/{org.units.platform.uid}/")
    page.get_by_role("link", name="Erin Employee").click()
    expect(page.get_by_role("heading", name="Erin Employee", level=1)).to_be_visible()
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    expect(breadcrumb).to_contain_text("Sam Skip")
    expect(page.get_by_text("Lisbon")).to_be_visible()  # the manager sees private fields
    breadcrumb.get_by_role("link", name="Morgan Manager").click()
    expect(page.get_by_role("heading", name="Morgan Manager", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Direct reports"))).to_be_visible()
    assert console_problems == []


def test_peer_page_withholds_private_fields(org, logged_in_page, console_problems):
    page = logged_in_page("employee")
    page.goto(f"/people/{org.people['peer'].uid}/")
    expect(page.get_by_text("Employment details are private")).to_be_visible()
    expect(page.get_by_text("Lisbon")).to_have_count(0)
    assert console_problems == []


def test_new_api_token_is_shown_once(org, logged_in_page, console_problems):
    page = logged_in_page("employee")
    page.goto("/tokens/")
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    token = page.get_by_label("New API token").input_value()
    assert token.startswith("nst_")
    page.goto("/tokens/")
    expect(page.get_by_text(token)).to_have_count(0)
    expect(page.get_by_role("cell", name=re.compile("^ci"))).to_be_visible()
    page.get_by_role("button", name="Revoke ci").click()
    expect(page.get_by_role("status")).to_contain_text("Token “ci” revoked.")
    expect(page.locator(".chip-bad")).to_have_text("Revoked")
    assert console_problems == []


def test_auditor_searches_the_audit_trail(org, logged_in_page, console_problems):
    page = logged_in_page("auditor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    page.get_by_label("Text").fill("Payments")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=Payments"))
    expect(page.locator("#audit-results tbody tr")).to_have_count(1)
    assert console_problems == []
