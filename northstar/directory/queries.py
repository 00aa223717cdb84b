"""Reads of the directory, always through `.restrict(user, action)`."""

from django.core.exceptions import ValidationError
from django.db.models import Q

from northstar.directory.models import OrgUnit, Person, Process, Service, Subject


def people(user, *, q=None, org_unit=None, within=None, manager=None, status=None, include_inactive=False):
    """Visible people; `org_unit` is one unit's members, `within` a unit's whole subtree (keys).

    Employment status is private: filtering on it (or listing terminated people,
    which would reveal it) is for the roles that read private fields.
    """
    from northstar.core.roles import actor_for

    if not actor_for(user).reads_everything:
        status, include_inactive = None, False
    rows = Person.objects.restrict(user, "view").select_related("org_unit", "manager")
    if not include_inactive and not status:
        rows = rows.exclude(employment_status=Person.Status.TERMINATED)
    if status:
        rows = rows.filter(employment_status=status)
    if q:
        rows = rows.filter(
            Q(name__icontains=q) | Q(email__icontains=q) | Q(job_title__icontains=q) | Q(employee_id=q)
        )
    if org_unit:
        rows = rows.filter(org_unit__key=org_unit)
    if within:
        unit_path = OrgUnit.objects.filter(key=within).values_list("path", flat=True).first()
        rows = rows.filter(org_unit__path__startswith=unit_path) if unit_path else rows.none()
    if manager:
        rows = rows.filter(manager__uid=manager)
    return rows.order_by("name", "pk")


def org_units(user, *, q=None, parent=None, include_inactive=False):
    rows = OrgUnit.objects.restrict(user, "view").select_related("parent", "manager")
    if not include_inactive:
        rows = rows.filter(is_active=True)
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(key__icontains=q))
    if parent:
        rows = rows.filter(parent__key=parent)
    return rows.order_by("path")


def _owned(model, user, *, q=None, owner_team=None, include_inactive=False):
    rows = model.objects.restrict(user, "view").select_related("owner_team")
    if not include_inactive:
        rows = rows.filter(is_active=True)
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(key__icontains=q))
    if owner_team:
        rows = rows.filter(owner_team__key=owner_team)
    return rows.order_by("name")


def services(user, **filters):
    return _owned(Service, user, **filters)


def processes(user, **filters):
    return _owned(Process, user, **filters)


def subjects(user, *, kind=None):
    rows = Subject.objects.restrict(user, "view").select_related("person", "org_unit", "service", "process")
    if kind:
        rows = rows.filter(kind=kind)
    return rows.order_by("kind", "pk")


# References by business key, resolved within what the user may see.
REFERENCES = {
    "manager": (Person, "employee_id", "person"),
    "org_unit": (OrgUnit, "key", "org unit"),
    "parent": (OrgUnit, "key", "org unit"),
    "owner_team": (OrgUnit, "key", "org unit"),
}


def resolve_references(user, values: dict) -> dict:
    """Replace business keys (manager employee id, org unit key) by the objects they name."""
    resolved, errors = dict(values), {}
    for name, (model, key_field, label) in REFERENCES.items():
        if name not in values or values[name] in (None, ""):
            if name in values:
                resolved[name] = None
            continue
        obj = model.objects.restrict(user, "view").filter(**{key_field: values[name]}).first()
        if obj is None:
            errors[name] = [f"No {label} with {key_field.replace('_', ' ')} {values[name]!r}."]
        resolved[name] = obj
    if errors:
        raise ValidationError(errors)
    return resolved
