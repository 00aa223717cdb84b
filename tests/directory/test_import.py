"""The HCM people import, at the service level: read, check, plan, apply, audit."""

import csv
import io
from datetime import date, datetime

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied

from northstar.audit.models import AuditEvent
from northstar.audit.services import verify_chain
from northstar.directory.importer import do_import_people, read_table
from northstar.directory.models import Person, Subject

HEADER = ["Employee ID", "Name", "Email", "Job Title", "Manager ID", "Org Unit", "Location", "Status",
          "Hire Date"]


def org_rows() -> list[list[str]]:
    """The `org` fixture's people as an HR export would list them today."""
    rows = []
    for p in Person.objects.select_related("manager", "org_unit").order_by("employee_id"):
        rows.append([p.employee_id, p.name, p.email, p.job_title, p.manager.employee_id if p.manager else "",
                     p.org_unit.key if p.org_unit else "", p.location, p.employment_status,
                     p.hire_date.isoformat() if p.hire_date else ""])
    return rows


def to_csv(rows, header=HEADER, delimiter=",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def new_row(employee_id, name, manager="E003", **extra):
    row = [employee_id, name, f"{employee_id.lower()}@acme.test", "Engineer", manager, "platform", "Lisbon",
           "active", "2024-03-01"]
    for index, value in extra.items():
        row[int(index.removeprefix("col"))] = value
    return row


def run(user, rows, header=HEADER, **options):
    return do_import_people("people.csv", to_csv(rows, header), acting_user=user, **options)


def snapshot_counts():
    return Person.objects.count(), AuditEvent.objects.count(), Subject.objects.count()


def person(employee_id) -> Person:
    return Person.objects.get(employee_id=employee_id)


# -- happy paths ----------------------------------------------------------------------------


def test_new_people_are_created_with_subjects_managers_and_paths(org):
    # N1 reports to N2, who comes later in the file: managers are linked after everyone exists.
    rows = [*org_rows(), new_row("N1", "Nia New", manager="N2"), new_row("N2", "Noel New", manager="E003")]
    result = run(org.hr, rows)
    assert result.ok and result.applied, result.errors
    assert [c.employee_id for c in result.plan.creates] == ["N1", "N2"]
    n1, n2 = person("N1"), person("N2")
    assert n1.manager == n2 and n2.manager == org.people["manager"]
    assert n2.manager_path == f"{org.people['manager'].manager_path}{n2.pk}/"
    assert n1.manager_path == f"{n2.manager_path}{n1.pk}/"
    assert n1.org_unit == org.units.platform and n1.hire_date == date(2024, 3, 1)
    assert Subject.objects.filter(person=n1, kind=Subject.Kind.PERSON).exists()


def test_reimporting_the_same_file_changes_nothing_and_writes_nothing(org):
    rows = [*org_rows(), new_row("N1", "Nia New")]
    assert run(org.hr, rows).applied
    stamps = dict(Person.objects.values_list("employee_id", "updated"))
    before = snapshot_counts()
    again = run(org.hr, rows)
    assert again.ok and not again.applied
    assert again.plan.counts == {"create": 0, "update": 0, "unchanged": 9, "deactivate": 0}
    assert snapshot_counts() == before  # not even an audit event
    assert dict(Person.objects.values_list("employee_id", "updated")) == stamps


def test_update_changes_only_the_changed_fields(org):
    rows = org_rows()
    rows[3][3] = "Senior Engineer"  # E004's job title
    peer_stamp = person("E005").updated
    result = run(org.hr, rows)
    assert result.applied
    [update] = result.plan.updates
    assert update.employee_id == "E004"
    assert update.changes == {"job_title": ("Engineer", "Senior Engineer")}
    assert person("E004").job_title == "Senior Engineer"
    assert person("E005").updated == peer_stamp
    event = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).get()
    assert event.changes == [("job_title", "Engineer", "Senior Engineer")]


def test_people_missing_from_the_file_are_deactivated(org):
    rows = [r for r in org_rows() if r[0] != "E008"]
    result = run(org.hr, rows)
    assert result.applied
    assert [d.employee_id for d in result.plan.deactivations] == ["E008"]
    assert person("E008").employment_status == Person.Status.TERMINATED
    event = AuditEvent.objects.filter(action=AuditEvent.Action.DEACTIVATE).get()
    assert event.before["employment_status"] == "active"
    assert event.after["employment_status"] == "terminated"


def test_no_deactivate_keeps_people_missing_from_the_file(org):
    rows = [r for r in org_rows() if r[0] != "E008"]
    result = run(org.hr, rows, deactivate_missing=False)
    assert result.plan.counts["deactivate"] == 0
    assert person("E008").employment_status == Person.Status.ACTIVE


def test_dry_run_previews_without_writing(org):
    rows = [*[r for r in org_rows() if r[0] != "E008"], new_row("N1", "Nia New")]
    before = snapshot_counts()
    result = run(org.hr, rows, dry_run=True)
    assert result.ok and not result.applied
    assert result.plan.counts == {"create": 1, "update": 0, "unchanged": 7, "deactivate": 1}
    assert snapshot_counts() == before


def test_moving_a_manager_moves_everyone_under_them(org):
    # Only the manager is in the file: their reports in the database follow them.
    rows = [r for r in org_rows() if r[0] == "E003"]
    rows[0][4] = "E007"  # Morgan now reports to Wendy
    result = run(org.hr, rows, deactivate_missing=False)
    assert result.applied, result.errors
    wendy, morgan, erin = person("E007"), person("E003"), person("E004")
    assert morgan.manager_path == f"{wendy.manager_path}{morgan.pk}/"
    assert erin.manager_path == f"{morgan.manager_path}{erin.pk}/"


def test_every_change_is_audited_with_one_summary_event(org):
    rows = [r for r in org_rows() if r[0] != "E008"]
    rows[3][3] = "Senior Engineer"
    rows.append(new_row("N1", "Nia New"))
    first_new = AuditEvent.objects.order_by("-seq").first().seq + 1
    run(org.hr, rows)
    events = list(AuditEvent.objects.filter(seq__gte=first_new).order_by("seq"))
    assert [e.action for e in events] == ["create", "update", "deactivate", "import"]
    create = events[0]
    assert create.after == person("N1").audit_snapshot() and create.before is None
    assert create.actor == "hr"
    summary = events[-1].after
    assert (summary["created"], summary["updated"], summary["deactivated"]) == (1, 1, 1)
    assert summary["file"] == "people.csv" and len(summary["sha256"]) == 64
    assert verify_chain().ok


# -- file formats and headers -------------------------------------------------------------------


def test_xlsx_with_date_cells_and_numeric_ids(org):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Worker ID", "Display Name", "Work Email", "Supervisor ID", "Start Date", "Department"])
    sheet.append([1001, "Xena Excel", "xena@acme.test", "E003", datetime(2023, 5, 2), "Platform"])
    sheet.append([1002.0, "Yuri Excel", "yuri@acme.test", 1001, datetime(2023, 6, 1), "web"])
    data = io.BytesIO()
    workbook.save(data)
    result = do_import_people("workers.xlsx", data.getvalue(), acting_user=org.admin, deactivate_missing=False)
    assert result.applied, result.errors
    xena, yuri = person("1001"), person("1002")
    assert xena.hire_date == date(2023, 5, 2) and xena.org_unit == org.units.platform
    assert yuri.manager == xena and yuri.org_unit == org.units.web


def test_xlsx_errors_name_the_sheet_row(org):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Employee ID", "Name", "Email"])
    sheet.append([])  # a blank spacer row still counts in Excel's numbering
    sheet.append(["X1", "Xena", "not-an-email"])
    data = io.BytesIO()
    workbook.save(data)
    result = do_import_people("people.xlsx", data.getvalue(), acting_user=org.admin, dry_run=True)
    assert [(e.line, e.message) for e in result.errors] == [(3, "bad email 'not-an-email'")]


def test_first_and_last_name_columns_are_combined(org):
    header = ["Person Number", "First Name", "Last Name", "Preferred Name", "Email Address"]
    rows = [["N1", "Robert", "Smith", "Bob", "bob@acme.test"], ["N2", "Alice", "Jones", "", "al@acme.test"]]
    result = run(org.hr, rows, header=header, deactivate_missing=False)
    assert result.applied, result.errors
    assert person("N1").name == "Bob Smith" and person("N2").name == "Alice Jones"


def test_semicolon_csv_with_bom_and_unknown_columns(org):
    header = ["employee_id", "FULL NAME", "E-mail", "Favourite colour"]
    data = "\ufeff".encode() + to_csv([["N1", "Nia New", "nia@acme.test", "blue"]], header, delimiter=";")
    result = do_import_people("people.csv", data, acting_user=org.hr, deactivate_missing=False)
    assert result.applied, result.errors
    assert result.plan.ignored_columns == ["Favourite colour"]
    assert result.plan.columns == {"employee_id": "employee_id", "name": "FULL NAME", "email": "E-mail"}


def test_absent_columns_leave_existing_values_alone(org):
    header = ["Employee ID", "Name", "Email"]
    rows = [[r[0], r[1], r[2]] for r in org_rows()]
    result = run(org.hr, rows, header=header)
    assert result.plan.counts["update"] == 0
    assert person("E004").manager == org.people["manager"] and person("E004").location == "Lisbon"


def test_status_words_are_mapped(org):
    rows = org_rows()
    rows[3][7], rows[4][7] = "On Leave", "Inactive"
    result = run(org.hr, rows)
    assert result.applied, result.errors
    assert person("E004").employment_status == Person.Status.ON_LEAVE
    assert person("E005").employment_status == Person.Status.TERMINATED


def test_line_numbers_count_physical_lines_across_quoted_newlines(org):
    data = (b"Employee ID,Name,Email,Job Title\n"
            b'N1,Nia New,nia@acme.test,"Engineer,\nsecond line"\n'
            b"N2,Noel New,bad-email,Engineer\n")
    result = do_import_people("people.csv", data, acting_user=org.hr, dry_run=True)
    assert [e.line for e in result.errors] == [4]


def test_read_table_skips_blank_rows_and_keeps_line_numbers():
    table = read_table("p.csv", b"Employee ID,Name\n\nE1,A\n,\nE2,B\n")
    assert table.headers == ["Employee ID", "Name"]
    assert [line for line, _cells in table.rows] == [3, 5]


# -- bad input: a clear error naming the line, and nothing written -----------------------------

BAD_FILES = {
    "missing required column": (
        lambda rows: to_csv([r[:2] + r[3:] for r in rows], [h for h in HEADER if h != "Email"]),
        [(1, "missing required column: email (e.g. 'Email')")],
    ),
    "same header twice": (
        lambda rows: to_csv([[*r, r[2]] for r in rows], [*HEADER, "EMAIL"]),
        [(1, "2 columns are headed 'Email'; keep one")],
    ),
    "empty required value": (
        lambda rows: to_csv([*rows[:2], [rows[2][0], "", *rows[2][2:]], *rows[3:]]),
        [(4, "name is empty")],
    ),
    "duplicate employee id": (
        lambda rows: to_csv([*rows, new_row("E004", "Erin Again")]),
        [(10, "duplicate employee id 'E004': also on line 5")],
    ),
    "bad email": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", col2="nia@")]),
        [(10, "bad email 'nia@'")],
    ),
    "unknown manager": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", manager="E999")]),
        [(10, "unknown manager 'E999'")],
    ),
    "self manager": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", manager="N1")]),
        [(10, "manager cycle: 'N1' is their own manager")],
    ),
    "manager cycle": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia", manager="N2"), new_row("N2", "Noel", manager="N1")]),
        [(10, "manager cycle: N1 (line 10) -> N2 (line 11) -> N1")],
    ),
    "cycle through the directory": (
        # The CEO would report to someone who (through the directory) reports to the CEO.
        lambda rows: to_csv([[*rows[0][:4], "E004", *rows[0][5:]], *rows[1:]]),
        [(2, "manager cycle: E001 (line 2) -> E004 (line 5) -> E003 (line 4) -> E002 (line 3) -> E001")],
    ),
    "unknown org unit": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", col5="Markting")]),
        [(10, "unknown org unit 'Markting' (no org unit has that key or name)")],
    ),
    "bad date": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", col8="06/01/2020")]),
        [(10, "bad hire date '06/01/2020': use YYYY-MM-DD")],
    ),
    "impossible date": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", col8="2021-02-30")]),
        [(10, "bad hire date '2021-02-30': use YYYY-MM-DD")],
    ),
    "bad status": (
        lambda rows: to_csv([*rows, new_row("N1", "Nia New", col7="Retired")]),
        [(10, "bad status 'Retired': use active, on leave or terminated")],
    ),
    "too long": (
        lambda rows: to_csv([*rows, new_row("N1", "N" * 201)]),
        [(10, "name is too long (201 characters, at most 200)")],
    ),
    "not utf-8": (
        lambda rows: to_csv(rows) + "N1,Zoë,z@acme.test\n".encode("latin-1"),
        [(10, "The file is not UTF-8 text (byte 0xeb on line 10): export it as 'CSV UTF-8'.")],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_input_is_reported_by_line_and_writes_nothing(org, case):
    make, expected = BAD_FILES[case]
    data = make(org_rows())
    before = snapshot_counts()
    result = do_import_people("people.csv", data, acting_user=org.hr)
    assert [(e.line, e.message) for e in result.errors] == expected
    assert not result.applied
    assert snapshot_counts() == before


def test_every_error_in_the_file_is_reported(org):
    rows = [*org_rows(), new_row("N1", "Nia", col2="bad"), new_row("N2", "Noel", manager="E999"),
            new_row("N3", "Nell", col8="yesterday", col7="Retired")]
    result = run(org.hr, rows)
    assert [(e.line, e.column) for e in result.errors] == [
        (10, "Email"), (11, "Manager ID"), (12, "Status"), (12, "Hire Date")]


def test_a_row_with_one_error_is_still_checked_for_the_others(org):
    rows = [*org_rows(), new_row("N1", "Nia", manager="E999", col2="x@")]
    result = run(org.hr, rows)
    assert [e.message for e in result.errors] == ["bad email 'x@'", "unknown manager 'E999'"]


def test_error_names_the_column_as_written_in_the_file(org):
    header = ["Worker ID", "Worker", "Business Email", "Reports To"]
    result = run(org.hr, [["N1", "Nia", "nia@acme.test", "NOPE"]], header=header, deactivate_missing=False)
    [error] = result.errors
    assert str(error) == "line 2, Reports To: unknown manager 'NOPE'"


def test_a_manager_left_out_of_the_file_would_be_deactivated(org):
    rows = [r for r in org_rows() if r[0] != "E003"]
    result = run(org.hr, rows)
    assert {e.message for e in result.errors} == {
        "manager 'E003' is not in the file, so this import would deactivate them (for a partial file, untick "
        "'Deactivate people not in the file' or use --no-deactivate)"}
    kept = run(org.hr, rows, deactivate_missing=False)
    assert kept.ok and kept.plan.counts["unchanged"] == 7


def test_a_row_with_errors_does_not_count_as_missing(org):
    rows = org_rows()
    rows[7][2] = "not-an-email"  # E008
    result = run(org.hr, rows, dry_run=True)
    assert result.plan.counts["deactivate"] == 0
    assert [e.line for e in result.errors] == [9]


def test_org_units_match_by_key_then_by_unique_name(org):
    rows = [new_row("N1", "Nia", col5="Engineering"), new_row("N2", "Noel", col5="WEB")]
    result = run(org.hr, rows, deactivate_missing=False)
    assert result.applied, result.errors
    assert person("N1").org_unit == org.units.eng and person("N2").org_unit == org.units.web


# -- permission ---------------------------------------------------------------------------------


def test_employee_cannot_import_and_the_denial_is_audited(org):
    before = Person.objects.count()
    with pytest.raises(PermissionDenied):
        run(org.employee, [*org_rows(), new_row("N1", "Nia New")])
    assert Person.objects.count() == before
    denial = AuditEvent.objects.order_by("-seq").first()
    assert denial.action == AuditEvent.Action.PERMISSION_DENIED and denial.actor == "employee"
    assert denial.object_repr == "import people"


def test_even_a_dry_run_needs_the_permission(org):
    with pytest.raises(PermissionDenied):
        run(org.auditor, org_rows(), dry_run=True)


# -- the import page, without a browser (tests/browser/test_import_page.py drives it in one) ----


def post_page(client, data: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = {"file": SimpleUploadedFile("people.csv", data), "deactivate_missing": "on", **fields}
    return client.post("/people/import/", payload, headers={"HX-Request": "true"})


@pytest.fixture
def hr_client(org, client):
    client.force_login(org.hr)
    return client


def test_only_admin_and_hr_see_the_import_page(org, client):
    client.force_login(org.employee)
    assert client.get("/people/import/").status_code == 403
    client.force_login(org.hr)
    assert client.get("/people/import/").status_code == 200


def test_preview_then_apply_with_the_previewed_fingerprint(org, hr_client):
    data = to_csv([*org_rows(), new_row("N1", "Nia New")])
    preview = post_page(hr_client, data, action="preview")
    assert preview.context["can_apply"] and preview.context["counts"]["create"] == 1
    assert not Person.objects.filter(employee_id="N1").exists()
    applied = post_page(hr_client, data, action="apply", fingerprint=preview.context["fingerprint"])
    assert applied.context["result"].applied
    assert b"Imported people.csv" in applied.content
    assert Person.objects.filter(employee_id="N1").exists()


def test_apply_with_a_different_file_than_previewed_previews_again(org, hr_client):
    preview = post_page(hr_client, to_csv([*org_rows(), new_row("N1", "Nia New")]), action="preview")
    other = to_csv([*org_rows(), new_row("N2", "Noel New")])
    response = post_page(hr_client, other, action="apply", fingerprint=preview.context["fingerprint"])
    assert not response.context["result"].applied
    assert b"changed since the preview" in response.content
    assert not Person.objects.filter(employee_id__in=["N1", "N2"]).exists()


def test_page_lists_errors_with_line_numbers(org, hr_client):
    response = post_page(hr_client, to_csv([*org_rows(), new_row("N1", "Nia", manager="E999")]))
    assert b"Line 10, Manager ID: unknown manager &#x27;E999&#x27;" in response.content
    assert not response.context["can_apply"]


def test_the_example_in_the_documentation_imports(org):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text()
    example = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    result = do_import_people("engineering.csv", example.encode(), acting_user=org.hr, deactivate_missing=False)
    assert result.applied, result.errors
    assert result.plan.ignored_columns == ["Pay Grade"]
    assert person("E101").manager == person("E100") and person("E101").name == "Ada Lovelace"
    assert person("E103").org_unit == org.units.web
    assert person("E102").employment_status == Person.Status.ON_LEAVE


def test_terminating_a_manager_who_keeps_active_reports_is_refused(org):
    from northstar.directory.importer import plan_import, read_table

    data = (b"Employee ID,Name,Email,Manager ID,Status\n"
            b"M1,Mae Manager,m1@acme.test,,terminated\n"
            b"R1,Ray Report,r1@acme.test,M1,active\n")
    plan = plan_import(read_table("people.csv", data), deactivate_missing=False)
    assert [(e.line, e.message) for e in plan.errors] == [
        (3, "manager 'M1' is terminated in this file; give this person another manager")]
