"""Reads of the plan, always through `.restrict(user, action)`."""

from django.core.exceptions import ValidationError
from django.db.models import Q

from northstar.directory.models import Person, Subject
from northstar.goals.models import CheckIn, KeyResult, Objective, Period, Perspective


def periods(user, *, kind=None, containing=None):
    rows = Period.objects.restrict(user, "view")
    if kind:
        rows = rows.filter(kind=kind)
    if containing:
        rows = rows.filter(start__lte=containing, end__gt=containing)
    return rows.order_by("start", "-end")


def objectives(user, *, q=None, subject=None, period=None, perspective=None, parent=None, owner=None,
               include_inactive=False):
    rows = (Objective.objects.restrict(user, "view")
            .select_related("subject", "period", "perspective", "parent", "owner")
            .prefetch_related("key_results__measure", "contributors"))
    if not include_inactive:
        rows = rows.filter(is_active=True)
    if q:
        rows = rows.filter(Q(title__icontains=q) | Q(key__icontains=q))
    if subject:
        rows = rows.filter(subject__uid=subject)
    if period:
        rows = rows.filter(period__key=period)
    if perspective:
        rows = rows.filter(perspective__key=perspective)
    if parent:
        rows = rows.filter(parent__key=parent)
    if owner:
        rows = rows.filter(owner__employee_id=owner)
    return rows.order_by("period__start", "title", "pk")


def key_results(user):
    return KeyResult.objects.restrict(user, "view").select_related("objective", "measure")


def check_ins(user, objective):
    return (CheckIn.objects.restrict(user, "view").filter(objective=objective)
            .select_related("author", "key_result").order_by("-created"))


def _one(model, user, field: str, value, label: str, errors: dict, name: str):
    obj = model.objects.restrict(user, "view").filter(**{field: value}).first()
    if obj is None:
        errors[name] = [f"No {label} {value!r}."]
    return obj


# Request fields that name other objects by business key: (model, lookup, label).
REFERENCES = {
    "subject": (Subject, "uid", "subject with uid"),
    "period": (Period, "key", "period with key"),
    "perspective": (Perspective, "key", "perspective with key"),
    "parent": (Objective, "key", "objective with key"),
    "owner": (Person, "employee_id", "person with employee id"),
    "objective": (Objective, "key", "objective with key"),
}


def resolve_references(user, values: dict) -> dict:
    """Replace business keys in a request body by the objects they name, within what the user may see."""
    from northstar.measures.models import Measure

    resolved, errors = dict(values), {}
    references = {**REFERENCES, "measure": (Measure, "key", "measure with key")}
    for name, (model, field, label) in references.items():
        if name in values:
            value = values[name]
            resolved[name] = None if value in (None, "") else _one(model, user, field, value, label, errors, name)
    if values.get("contributors") is not None:
        ids = list(values["contributors"])
        found = {p.employee_id: p for p in Person.objects.restrict(user, "view").filter(employee_id__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            errors["contributors"] = [f"No person with employee id {i!r}." for i in missing]
        resolved["contributors"] = list(found.values())
    if errors:
        raise ValidationError(errors)
    return resolved
