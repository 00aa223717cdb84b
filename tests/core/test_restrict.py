"""`Model.objects.restrict(user, action)` for every role."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from northstar.audit.models import AuditEvent
from northstar.core.models import ApiToken
from northstar.directory import services
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject


def visible_people(user, action="view"):
    return set(Person.objects.restrict(user, action).values_list("employee_id", flat=True))


ALL = {"E001", "E002", "E003", "E004", "E005", "E006", "E007", "E008"}


@pytest.mark.parametrize("actor", ["admin", "hr", "auditor", "executive"])
def test_read_all_roles_see_everyone(org, actor):
    assert visible_people(getattr(org, actor)) == ALL


def test_employee_sees_own_team_and_management_chain_only(org):
    # Platform team (E003 manager, E004 self, E005 peer, E006) + chain up (E002, E001).
    assert visible_people(org.employee) == {"E001", "E002", "E003", "E004", "E005", "E006"}


def test_manager_sees_whole_reporting_chain_transitively(org):
    # Sam Skip manages Platform's manager (and through them the team) and Web's developer.
    assert visible_people(org.skip) >= {"E003", "E004", "E005", "E006", "E007"}
    assert "E008" not in visible_people(org.skip)


def test_outsider_cannot_see_another_teams_people(org):
    assert visible_people(org.outsider) == {"E001", "E008"}


def test_anonymous_sees_nothing(org):
    assert visible_people(AnonymousUser()) == set()
    assert not OrgUnit.objects.restrict(AnonymousUser(), "view").exists()


def test_private_fields_visible_to_self_chain_and_read_all_roles_only(org):
    from northstar.core.roles import actor_for

    employee = org.people["employee"]
    assert employee.private_visible_to(actor_for(org.employee))
    assert employee.private_visible_to(actor_for(org.manager))
    assert employee.private_visible_to(actor_for(org.skip))
    assert employee.private_visible_to(actor_for(org.hr))
    assert not employee.private_visible_to(actor_for(org.peer))
    assert not employee.private_visible_to(actor_for(org.web_dev))


@pytest.mark.parametrize("actor", ["employee", "manager", "auditor", "executive", "service_owner"])
def test_only_hr_and_admin_change_people(org, actor):
    assert visible_people(getattr(org, actor), "change") == set()
    with pytest.raises(PermissionDenied):
        services.do_update_person(org.people["peer"], job_title="x", acting_user=getattr(org, actor))


def test_hr_changes_people_but_only_admin_deletes(org):
    assert visible_people(org.hr, "change") == ALL
    assert visible_people(org.hr, "delete") == set()
    assert visible_people(org.admin, "delete") == ALL


def test_service_owner_changes_only_their_teams_services(org):
    changeable = set(Service.objects.restrict(org.service_owner, "change").values_list("key", flat=True))
    assert changeable == {"payments"}
    assert set(Process.objects.restrict(org.service_owner, "change")) == set()
    services.do_update_service(org.service, description="Card payments", acting_user=org.service_owner)
    with pytest.raises(PermissionDenied):
        services.do_update_service(org.other_service, description="x", acting_user=org.service_owner)


def test_service_owner_cannot_hand_a_service_to_a_team_outside_their_reach(org):
    with pytest.raises(PermissionDenied):
        services.do_update_service(org.service, owner_team=org.units.sales, acting_user=org.service_owner)
    org.service.refresh_from_db()
    assert org.service.owner_team == org.units.platform
    assert AuditEvent.objects.filter(action="permission_denied", actor="service_owner").exists()


def test_everyone_sees_the_org_structure_services_and_processes(org):
    for user in (org.employee, org.outsider, org.auditor):
        assert OrgUnit.objects.restrict(user, "view").count() == 5
        assert Service.objects.restrict(user, "view").count() == 2
        assert Process.objects.restrict(user, "view").count() == 1


def test_subjects_follow_their_targets(org):
    kinds = Subject.objects.restrict(org.outsider, "view").values_list("kind", flat=True)
    assert sorted(kinds).count("person") == 2
    assert Subject.objects.restrict(org.hr, "view").filter(kind="person").count() == 8


def test_audit_trail_only_for_admins_and_auditors(org):
    assert AuditEvent.objects.restrict(org.auditor, "view").exists()
    assert AuditEvent.objects.restrict(org.admin, "view").exists()
    for actor in ("employee", "hr", "executive", "manager"):
        assert not AuditEvent.objects.restrict(getattr(org, actor), "view").exists()


def test_tokens_are_visible_to_their_owner_and_admins(org, token_for):
    token_for(org.employee)
    assert ApiToken.objects.restrict(org.employee, "view").count() == 1
    assert ApiToken.objects.restrict(org.peer, "view").count() == 0
    assert ApiToken.objects.restrict(org.admin, "view").count() == 1


def test_unknown_action_is_refused(org):
    with pytest.raises(ValueError):
        Person.objects.restrict(org.admin, "frobnicate")


def test_visible_to_agrees_with_restrict_for_every_actor_and_person(org):
    from northstar.core.roles import actor_for

    actors = ["admin", "hr", "auditor", "executive", "employee", "peer", "manager", "skip", "web_dev",
              "outsider", "service_owner"]
    everyone = list(Person.objects.all())
    for name in actors:
        user = getattr(org, name)
        restricted = set(Person.objects.restrict(user, "view").values_list("pk", flat=True))
        mirrored = {p.pk for p in everyone if p.visible_to(actor_for(user))}
        assert mirrored == restricted, name
