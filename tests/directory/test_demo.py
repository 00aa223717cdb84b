"""`northstar demo`: a deterministic, consistent organisation, its logins, and refusing to mix with real data."""

from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from northstar.audit.models import AuditEvent
from northstar.core.roles import Role, actor_for
from northstar.directory.demo import DEMO_PASSWORD, LOGINS, TEAM_MAX, TEAM_MIN, build_plan
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The demo logins are checked many times here; real hashing would take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_demo(*args) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def demo(db):
    return run_demo("--size", "S")


def test_small_demo_has_the_expected_counts(demo):
    assert Person.objects.count() == 200
    kinds = Counter(OrgUnit.objects.values_list("kind", flat=True))
    assert kinds[OrgUnit.Kind.COMPANY] == 1
    assert kinds[OrgUnit.Kind.DIVISION] == 8
    assert kinds[OrgUnit.Kind.DEPARTMENT] >= 8
    assert kinds[OrgUnit.Kind.TEAM] >= 15
    assert Service.objects.count() == 20
    assert Process.objects.count() == 13
    assert get_user_model().objects.count() == len(LOGINS)
    assert set(OrgUnit.objects.values_list("name", flat=True)) >= {
        "Engineering", "Sales", "Marketing", "Customer Success", "Finance", "People", "Operations",
    }
    assert "Demo organisation (size S, seed 1): 200 people" in demo


def test_every_unit_has_a_head_and_every_team_a_plausible_size(demo):
    assert not OrgUnit.objects.filter(manager__isnull=True).exists()
    for team in OrgUnit.objects.filter(kind=OrgUnit.Kind.TEAM):
        members = team.people.exclude(pk=team.manager_id)
        assert TEAM_MIN <= members.count() <= TEAM_MAX, team
        assert set(members.values_list("manager_id", flat=True)) == {team.manager_id}
    assert Person.objects.filter(employment_status=Person.Status.ON_LEAVE).exists()
    assert not Service.objects.exclude(owner_team__path__startswith=_unit("Engineering").path).exists()
    assert not Process.objects.filter(owner_team__path__startswith=_unit("Engineering").path).exists()


def test_only_the_ceo_has_no_manager(demo):
    ceo = Person.objects.get(manager__isnull=True)
    assert ceo.job_title == "Chief Executive Officer"
    assert OrgUnit.objects.get(kind=OrgUnit.Kind.COMPANY).manager == ceo


def test_paths_agree_with_parents_and_managers(demo):
    units = {unit.pk: unit for unit in OrgUnit.objects.all()}
    for unit in units.values():
        parent_path = units[unit.parent_id].path if unit.parent_id else "/"
        assert unit.path == f"{parent_path}{unit.pk}/", unit
    people = {person.pk: person for person in Person.objects.all()}
    for person in people.values():
        manager_path = people[person.manager_id].manager_path if person.manager_id else "/"
        assert person.manager_path == f"{manager_path}{person.pk}/", person


def test_every_directory_row_has_exactly_one_subject(demo):
    for model, kind in ((Person, "person"), (OrgUnit, "org_unit"), (Service, "service"),
                        (Process, "process")):
        per_target = Counter(Subject.objects.filter(kind=kind).values_list(kind, flat=True))
        assert set(per_target) == set(model.objects.values_list("pk", flat=True)), model
        assert set(per_target.values()) == {1}, model


def test_the_same_seed_gives_the_same_organisation():
    first, second = build_plan("S", seed=7), build_plan("S", seed=7)
    assert _identity(first) == _identity(second)
    assert _identity(build_plan("S", seed=8))["people"] != _identity(first)["people"]


def test_the_database_holds_exactly_the_planned_organisation(db):
    run_demo("--size", "S", "--seed", "7")
    plan = _identity(build_plan("S", seed=7))
    assert list(Person.objects.order_by("pk").values_list("employee_id", "name", "email", "uid")) == plan["people"]
    assert list(OrgUnit.objects.order_by("pk").values_list("key", "name", "path", "uid")) == plan["units"]
    assert set(Subject.objects.values_list("uid", flat=True)) == set(plan["subjects"])


def test_loading_the_demo_is_one_audit_event(demo):
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.CREATE
    assert event.object_repr == "demo organisation size S"
    assert event.after["people"] == 200


@pytest.mark.parametrize("spec", LOGINS, ids=lambda spec: spec.username)
def test_demo_logins_can_sign_in(demo, spec):
    client = Client()
    response = client.post(reverse("login"), {"username": spec.username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.content
    user = get_user_model().objects.get(username=spec.username)
    assert client.session["_auth_user_id"] == str(user.pk)
    actor = actor_for(user)
    assert actor.person_id is not None
    if spec.role:
        assert spec.role in actor.roles


def test_demo_output_lists_the_url_and_every_login(demo):
    assert "http://127.0.0.1:8000" in demo
    for spec in LOGINS:
        assert f"  {spec.username} " in demo


def test_demo_manager_sees_the_demo_employee_and_owner_may_change_services(demo):
    users = get_user_model().objects
    manager, employee = Person.objects.get(user__username="manager"), Person.objects.get(user__username="employee")
    assert Person.objects.restrict(users.get(username="manager")).filter(pk=employee.pk).exists()
    assert employee.manager_path.startswith(manager.manager_path)
    assert Service.objects.restrict(users.get(username="owner"), "change").count() >= 5
    assert Person.objects.get(user__username="exec").job_title == "Chief Executive Officer"
    assert Role.ADMIN in actor_for(users.get(username="admin")).roles


def test_if_empty_leaves_a_filled_database_alone(org):
    people = Person.objects.count()
    output = run_demo("--size", "S", "--if-empty")
    assert "not added" in output
    assert Person.objects.count() == people
    assert not Service.objects.filter(key="kubernetes-platform").exists()


def test_if_empty_on_the_demo_database_still_prints_the_logins(demo):
    output = run_demo("--if-empty")
    assert Person.objects.count() == 200
    assert "northstar-demo" in output and "  employee " in output


def test_a_filled_database_is_refused_without_if_empty(org):
    with pytest.raises(CommandError, match="not empty.*--if-empty"):
        run_demo("--size", "S")
    assert not Person.objects.filter(user__username="exec").exists()


def test_a_user_holding_a_demo_login_name_counts_as_not_empty(admin):
    with pytest.raises(CommandError, match="1 users named like a demo login"):
        run_demo("--size", "S")
    assert "not added" in run_demo("--size", "S", "--if-empty")
    assert not Person.objects.exists()


def _unit(name: str) -> OrgUnit:
    return OrgUnit.objects.get(name=name)


def _identity(plan) -> dict:
    return {
        "people": [(p.employee_id, p.name, p.email, p.uid) for p in plan.people],
        "units": [(u.key, u.name, u.path, u.uid) for u in plan.units],
        "services": [(s.key, s.name, s.uid) for s in plan.services],
        "subjects": [s.uid for s in plan.subjects],
        "logins": {username: person.pk for username, person in plan.logins.items()},
    }
