"""`northstar import people FILE`."""

import io

import pytest
from django.core.management import CommandError, call_command

from northstar.audit.models import AuditEvent
from northstar.directory.models import Person
from tests.directory.test_import import new_row, org_rows, to_csv


def run(*args) -> str:
    out = io.StringIO()
    call_command("import", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def people_file(org, tmp_path):
    def write(rows, name="people.csv"):
        path = tmp_path / name
        path.write_bytes(to_csv(rows))
        return str(path)
    return write


def test_dry_run_prints_the_preview_and_writes_nothing(org, people_file):
    path = people_file([*[r for r in org_rows() if r[0] != "E008"], new_row("N1", "Nia New")])
    before = Person.objects.count(), AuditEvent.objects.count()
    out = run("people", path, "--dry-run")
    assert "people.csv: 8 rows (dry run)" in out
    assert "  create             1" in out and "  deactivate         1" in out
    assert "line 9: N1 Nia New" in out and "E008 Oscar Outsider" in out
    assert "Dry run: nothing was written." in out
    assert (Person.objects.count(), AuditEvent.objects.count()) == before


def test_import_applies_as_the_first_superuser(org, people_file):
    rows = org_rows()
    rows[3][3] = "Senior Engineer"
    out = run("people", people_file([*rows, new_row("N1", "Nia New")]))
    assert "line 5: E004 Erin Employee: job title 'Engineer' -> 'Senior Engineer'" in out
    assert "Imported: 1 created, 1 updated, 0 deactivated." in out
    assert Person.objects.filter(employee_id="N1").exists()
    assert AuditEvent.objects.filter(action="import").get().actor == "admin"


def test_reimport_says_nothing_to_change(org, people_file):
    out = run("people", people_file(org_rows()))
    assert "Nothing to change" in out


def test_errors_are_listed_by_line_and_the_command_fails(org, people_file):
    path = people_file([*org_rows(), new_row("N1", "Nia", manager="E999"), new_row("N2", "Noel", col2="x@")])
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 errors in people.csv; nothing was imported"):
        call_command("import", "people", path, stdout=out, stderr=io.StringIO())
    assert "line 10, Manager ID: unknown manager 'E999'" in out.getvalue()
    assert "line 11, Email: bad email 'x@'" in out.getvalue()
    assert not Person.objects.filter(employee_id__in=["N1", "N2"]).exists()


def test_no_deactivate_keeps_missing_people(org, people_file):
    run("people", people_file([r for r in org_rows() if r[0] != "E008"]), "--no-deactivate")
    assert Person.objects.get(employee_id="E008").employment_status == Person.Status.ACTIVE


def test_as_hr_is_recorded_as_hr(org, people_file):
    run("people", people_file([*org_rows(), new_row("N1", "Nia New")]), "--as", "hr")
    assert AuditEvent.objects.filter(action="import").get().actor == "hr"


def test_as_an_employee_is_refused(org, people_file):
    with pytest.raises(CommandError, match="You may not import people"):
        run("people", people_file(org_rows()), "--as", "employee")


@pytest.mark.parametrize(("args", "message"), [
    (["people", "/nonexistent/people.csv"], "Cannot read /nonexistent/people.csv"),
    (["people", "{file}", "--as", "nobody"], "No user named 'nobody'"),
    (["goals", "{file}"], "invalid choice: 'goals'"),
])
def test_bad_arguments_are_explained(org, people_file, args, message):
    path = people_file(org_rows())
    with pytest.raises(CommandError, match=message):
        run(*[a.replace("{file}", path) for a in args])
