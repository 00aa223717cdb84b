"""Every write to the directory: validate, check permission, write, audit, in one transaction."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Value
from django.db.models.functions import Concat, Substr

from northstar.audit.services import Action
from northstar.core.errors import Conflict
from northstar.core.permissions import deny, require_role
from northstar.core.roles import Role
from northstar.core.writes import create_object, update_object
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject

# Which fields a caller may set on each kind; anything else is refused by name.
EDITABLE = {
    OrgUnit: {"key", "name", "kind", "parent", "manager", "is_active"},
    Person: {"employee_id", "name", "email", "job_title", "job_role", "manager", "org_unit", "location",
             "employment_status", "hire_date", "user"},
    Service: {"key", "name", "tier", "owner_team", "description", "is_active"},
    Process: {"key", "name", "owner_team", "description", "is_active"},
}
UNIQUE_FIELDS = {OrgUnit: "key", Person: "employee_id", Service: "key", Process: "key"}
CREATOR_ROLES = {
    OrgUnit: (Role.ADMIN, Role.HR),
    Person: (Role.ADMIN, Role.HR),
    Service: (Role.ADMIN, Role.SERVICE_OWNER),
    Process: (Role.ADMIN, Role.SERVICE_OWNER),
}


def _create(model, values: dict, acting_user, after_save=None):
    def may_create(obj):
        require_role(acting_user, *CREATOR_ROLES[model], to=f"create a {model._meta.verbose_name}")

    def place_and_subject(obj):
        if after_save:
            after_save(obj)
        Subject.for_target(obj).save()

    return create_object(model, values, acting_user=acting_user, editable=EDITABLE[model],
                         unique=[UNIQUE_FIELDS[model]], may_create=may_create, after_save=place_and_subject)


def _update(obj, values: dict, acting_user, action=Action.UPDATE, after_save=None):
    model = type(obj)
    return update_object(obj, values, acting_user=acting_user, editable=EDITABLE[model],
                         unique=[UNIQUE_FIELDS[model]], action=action, after_save=after_save)


# -- paths -----------------------------------------------------------------------------------


def _rebase_paths(model, field: str, old_prefix: str, new_prefix: str) -> None:
    """Move a whole subtree: every path starting with old_prefix now starts with new_prefix."""
    if old_prefix == new_prefix:
        return
    model.objects.filter(**{f"{field}__startswith": old_prefix}).update(
        **{field: Concat(Value(new_prefix), Substr(field, len(old_prefix) + 1), output_field=models.CharField())}
    )


def _place_unit(unit: OrgUnit) -> None:
    parent_path = unit.parent.path if unit.parent_id else "/"
    if unit.parent_id and f"/{unit.pk}/" in parent_path:
        raise ValidationError({"parent": [f"{unit.parent} is inside {unit}; that would make a cycle."]})
    new_path = f"{parent_path}{unit.pk}/"
    if unit.path and unit.path != new_path:
        _rebase_paths(OrgUnit, "path", unit.path, new_path)
    elif not unit.path:
        OrgUnit.objects.filter(pk=unit.pk).update(path=new_path)
    unit.path = new_path


def _place_person(person: Person) -> None:
    parent_path = person.manager.manager_path if person.manager_id else "/"
    if person.manager_id and f"/{person.pk}/" in parent_path:
        raise ValidationError({"manager": [f"{person.manager} reports to {person}; that would make a cycle."]})
    new_path = f"{parent_path}{person.pk}/"
    if person.manager_path and person.manager_path != new_path:
        _rebase_paths(Person, "manager_path", person.manager_path, new_path)
    elif not person.manager_path:
        Person.objects.filter(pk=person.pk).update(manager_path=new_path)
    person.manager_path = new_path


# -- org units -------------------------------------------------------------------------------


def do_create_org_unit(*, acting_user, **values) -> OrgUnit:
    return _create(OrgUnit, values, acting_user, after_save=_place_unit)


def do_update_org_unit(unit: OrgUnit, *, acting_user, **values) -> OrgUnit:
    return _update(unit, values, acting_user, after_save=_place_unit)


def do_deactivate_org_unit(unit: OrgUnit, *, acting_user) -> OrgUnit:
    if unit.people.exclude(employment_status=Person.Status.TERMINATED).exists():
        raise Conflict(f"{unit} still has active people; move them first.")
    if unit.children.filter(is_active=True).exists():
        raise Conflict(f"{unit} still has active sub-units; deactivate or move them first.")
    return _update(unit, {"is_active": False}, acting_user, action=Action.DEACTIVATE)


# -- people ----------------------------------------------------------------------------------


def do_create_person(*, acting_user, **values) -> Person:
    return _create(Person, values, acting_user, after_save=_place_person)


def do_update_person(person: Person, *, acting_user, **values) -> Person:
    return _update(person, values, acting_user, after_save=_place_person)


def do_deactivate_person(person: Person, *, acting_user) -> Person:
    reports = person.direct_reports.exclude(employment_status=Person.Status.TERMINATED).count()
    if reports:
        raise Conflict(f"{person} still has {reports} active direct report(s); give them another manager first.",
                       {"manager": [f"{reports} active direct report(s)."]})
    return _update(person, {"employment_status": Person.Status.TERMINATED}, acting_user,
                   action=Action.DEACTIVATE)


# -- services and processes ------------------------------------------------------------------


def _check_owner_team(acting_user, values: dict) -> None:
    """A service owner may only create or hand over to teams inside their own part of the tree."""
    team = values.get("owner_team")
    if team is None:
        return
    from northstar.core.roles import actor_for

    actor = actor_for(acting_user)
    if actor.is_admin:
        return
    if not (actor.org_unit_path and team.path.startswith(actor.org_unit_path)):
        raise deny(acting_user, "assign", f"an owner team outside your own ({team})")


def do_create_service(*, acting_user, **values) -> Service:
    _check_owner_team(acting_user, values)
    return _create(Service, values, acting_user)


def do_update_service(service: Service, *, acting_user, **values) -> Service:
    return _update(service, values, acting_user)


def do_deactivate_service(service: Service, *, acting_user) -> Service:
    return _update(service, {"is_active": False}, acting_user, action=Action.DEACTIVATE)


def do_create_process(*, acting_user, **values) -> Process:
    _check_owner_team(acting_user, values)
    return _create(Process, values, acting_user)


def do_update_process(process: Process, *, acting_user, **values) -> Process:
    return _update(process, values, acting_user)


def do_deactivate_process(process: Process, *, acting_user) -> Process:
    return _update(process, {"is_active": False}, acting_user, action=Action.DEACTIVATE)
