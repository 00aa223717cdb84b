"""`northstar apply FILE [--dry-run] [--as USERNAME]`."""

import io

import pytest
from django.core.management import CommandError, call_command

from northstar.audit.models import AuditEvent
from northstar.goals.models import Objective
from tests.goals.test_plan import PLAN, TEAM_PLAN, line_of


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("apply", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def plan_path(tmp_path):
    def write(text=PLAN, name="plan.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


def test_dry_run_prints_the_diff_and_writes_nothing(org, plan_path):
    path = plan_path()
    before = Objective.objects.count(), AuditEvent.objects.count()
    out, _err = run(path, "--dry-run")
    assert out.startswith(f"{path} (dry run)\n")
    assert f"+ create period fy2027 (line {line_of(PLAN, 'fiscalYear')})" in out
    assert f"+ create measure deploys (line {line_of(PLAN, '- key: deploys')})" in out
    assert "+ create target deploys@fy2027" in out and "+ create key result postmortems" in out
    assert "= 0 unchanged" in out
    assert "Dry run: 27 to create, 0 to update; nothing was written." in out
    assert (Objective.objects.count(), AuditEvent.objects.count()) == before


def test_apply_as_the_first_superuser_then_nothing_to_change(org, plan_path):
    path = plan_path()
    out, _err = run(path)
    assert "Applied: 27 created, 0 updated." in out
    assert AuditEvent.objects.filter(action="create", object_type="goals.objective").first().actor == "admin"
    out, _err = run(path)
    assert "= 27 unchanged" in out and "Nothing to change" in out


def test_an_update_prints_before_and_after(org, plan_path):
    run(plan_path())
    out, _err = run(plan_path(PLAN.replace("weight: 2", "weight: 3").replace("Make the", "Keep the")))
    assert ("~ update objective platform-reliability: title 'Make the platform boringly reliable' -> "
            "'Keep the platform boringly reliable'; weight 2 -> 3 (line "
            f"{line_of(PLAN, '- key: platform-reliability')})") in out
    assert "= 26 unchanged" in out and "Applied: 0 created, 1 updated." in out


def test_verbose_lists_the_fields_of_creates(org, plan_path):
    out, _err = run(plan_path(), "--dry-run", "-v", "2")
    assert "+ create service checkout: name 'Checkout'; ownerTeam 'web'; tier 1 (line 10)" in out


def test_kept_objects_are_listed(org, plan_path):
    run(plan_path())
    out, _err = run(plan_path(PLAN.replace("      - key: postmortems\n        title: Every incident gets a "
                                           "postmortem\n        manual: {start: 0, target: 100, unit: \"%\"}\n",
                                           "")), "--dry-run")
    assert "  kept (not in file): key result postmortems" in out


def test_errors_print_as_file_line_message_and_the_command_fails(org, plan_path):
    text = PLAN.replace("perspective: internal-process", "perspective: internal").replace("E003", "E999")
    path = plan_path(text)
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"2 errors in .*plan.yaml; nothing was applied"):
        call_command("apply", path, stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        f"{path}:{line_of(text, 'perspective: internal')}: objective 'platform-reliability': unknown perspective "
        "'internal' (known: financial, customer, internal-process, learning-growth)",
        f"{path}:{line_of(text, 'owner: E999')}: objective 'platform-reliability': unknown owner 'E999' "
        "(no person with this employee id)",
    ]
    assert not Objective.objects.exists()


def test_as_a_user_who_may_not_plan_for_the_team(org, plan_path):
    from northstar.goals.services import do_create_fiscal_year

    do_create_fiscal_year(2027, acting_user=org.hr)
    path = plan_path(TEAM_PLAN, "team.yaml")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 error in"):
        call_command("apply", path, "--as", "outsider", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == f"{path}:3: measure 'deploys': You may not plan measures for Org unit: Platform.\n"


def test_unknown_user_and_missing_file(org, plan_path):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run(plan_path(), "--as", "nobody")
    with pytest.raises(CommandError, match="Cannot read /nonexistent/plan.yaml"):
        run("/nonexistent/plan.yaml")


def test_the_plan_can_come_from_standard_input(org, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(PLAN.encode())))
    out, _err = run("-", "--dry-run")
    assert out.startswith("<stdin> (dry run)\n") and "27 to create" in out
