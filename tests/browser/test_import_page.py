"""The people import page in a real browser: upload, preview, apply, with htmx and no inline script.

Every test also checks that the browser saw no console error (a Content-Security-Policy
violation is one) and no uncaught JavaScript exception.
"""

import pytest
from playwright.sync_api import expect

from northstar.directory.models import Person
from tests.directory.test_import import new_row, org_rows, to_csv

pytestmark = pytest.mark.browser


def csv_file(rows, name="people.csv") -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": to_csv(rows)}


def open_import_page(logged_in_page, username="hr"):
    page = logged_in_page(username)
    page.goto("/people/import/")
    expect(page.get_by_role("heading", name="Import people", level=1)).to_be_visible()
    page.evaluate("window.northstarTestMarker = 'same document'")
    return page


def test_preview_then_apply_in_place(org, logged_in_page, console_problems):
    page = open_import_page(logged_in_page)
    page.get_by_label("CSV (UTF-8) or XLSX file").set_input_files(
        csv_file([*org_rows(), new_row("N1", "Nia New")]))
    page.get_by_role("button", name="Preview").click()

    outcome = page.locator("#import-outcome")
    expect(outcome.get_by_role("heading", name="Preview of people.csv")).to_be_visible()
    expect(page.locator("#import-counts")).to_contain_text("1 to create")
    expect(page.locator("#import-counts")).to_contain_text("8 unchanged")
    expect(outcome.get_by_role("row", name="10 N1 Nia New")).to_be_visible()
    assert not Person.objects.filter(employee_id="N1").exists()

    page.get_by_role("button", name="Apply import").click()
    expect(outcome.get_by_role("heading", name="Imported people.csv")).to_be_visible()
    expect(page.locator("#import-counts")).to_contain_text("1 created")
    expect(page.get_by_role("button", name="Apply import")).to_have_count(0)
    assert Person.objects.filter(employee_id="N1").exists()
    # htmx swapped the outcome: the page was never reloaded, and the file is still chosen.
    assert page.evaluate("window.northstarTestMarker") == "same document"
    assert console_problems == []


def test_errors_are_listed_with_their_lines_and_nothing_can_be_applied(org, logged_in_page, console_problems):
    page = open_import_page(logged_in_page)
    page.get_by_label("CSV (UTF-8) or XLSX file").set_input_files(
        csv_file([*org_rows(), new_row("N1", "Nia", manager="E999"), new_row("N2", "Noel", col2="x@")]))
    page.get_by_role("button", name="Preview").click()
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("Line 10, Manager ID: unknown manager 'E999'")
    expect(errors).to_contain_text("Line 11, Email: bad email 'x@'")
    expect(page.get_by_role("button", name="Apply import")).to_have_count(0)
    assert console_problems == []


def test_a_file_changed_after_the_preview_is_previewed_again_not_applied(org, logged_in_page,
                                                                         console_problems):
    page = open_import_page(logged_in_page)
    chooser = page.get_by_label("CSV (UTF-8) or XLSX file")
    chooser.set_input_files(csv_file([*org_rows(), new_row("N1", "Nia New")]))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("button", name="Apply import")).to_be_visible()

    chooser.set_input_files(csv_file([*org_rows(), new_row("N2", "Noel New")]))
    page.get_by_role("button", name="Apply import").click()
    expect(page.locator("#import-outcome")).to_contain_text("changed since the preview")
    expect(page.locator("#import-outcome").get_by_role("row", name="10 N2 Noel New")).to_be_visible()
    assert not Person.objects.filter(employee_id__in=["N1", "N2"]).exists()
    assert console_problems == []


def test_an_employee_is_refused(org, logged_in_page):
    page = logged_in_page("employee")
    response = page.goto("/people/import/")
    assert response.status == 403
