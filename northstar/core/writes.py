"""The one way a service creates or changes a domain object.

Each app's services say which fields a caller may set, which are unique, and who
may create; these functions do the rest the same way everywhere: refuse unknown
fields by name, validate, write in one transaction, keep the object within the
caller's reach, and record the audit event with before/after values.
"""

from collections.abc import Callable, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from northstar.audit.services import Action, record_event
from northstar.core.errors import Conflict
from northstar.core.permissions import deny, require


def check_fields(model, values: dict, editable: Iterable[str]) -> None:
    unknown = set(values) - set(editable)
    if unknown:
        raise ValidationError({name: ["This field cannot be set."] for name in sorted(unknown)})


def check_unique(obj, unique: Iterable[str]) -> None:
    model = type(obj)
    for name in unique:
        value = getattr(obj, name)
        if value in (None, ""):
            continue
        if model._default_manager.filter(**{name: value}).exclude(pk=obj.pk).exists():
            label = model._meta.verbose_name
            raise Conflict(f"A {label} with {name} {value!r} already exists.", {name: ["Already in use."]})


def validate(obj, unique: Iterable[str]) -> None:
    check_unique(obj, unique)
    obj.full_clean(validate_unique=False, validate_constraints=True)


def save(obj) -> None:
    try:
        obj.save()
    except IntegrityError as error:  # a concurrent writer took the key between check and save
        raise Conflict(f"The {type(obj)._meta.verbose_name} clashes with existing data: {error}") from error


def create_object(model, values: dict, *, acting_user, editable: Iterable[str], unique: Iterable[str] = (),
                  may_create: Callable[[object], None], after_save: Callable[[object], None] | None = None):
    """`may_create(obj)` raises PermissionDenied (through `deny`) for an unsaved object the user may not add."""
    check_fields(model, values, editable)
    obj = model(**values)
    may_create(obj)
    validate(obj, unique)
    with transaction.atomic():
        save(obj)
        if after_save:
            after_save(obj)
        if not model.objects.restrict(acting_user, "view").filter(pk=obj.pk).exists():
            raise PermissionDenied(f"The new {model._meta.verbose_name} would be outside what you may see.")
        record_event(Action.CREATE, acting_user=acting_user, obj=obj, after=obj.audit_snapshot())
    return obj


class _OutOfScope(Exception):
    pass


def update_object(obj, values: dict, *, acting_user, editable: Iterable[str], unique: Iterable[str] = (),
                  action: str = Action.UPDATE, after_save: Callable[[object], None] | None = None):
    model = type(obj)
    check_fields(model, values, editable)
    require(acting_user, "change", obj)
    before = obj.audit_snapshot()
    for name, value in values.items():
        setattr(obj, name, value)
    validate(obj, unique)
    if obj.audit_snapshot() == before:
        return obj
    try:
        with transaction.atomic():
            save(obj)
            if after_save:
                after_save(obj)
            # The change must not move the object out of the caller's reach.
            if not model.objects.restrict(acting_user, "change").filter(pk=obj.pk).exists():
                raise _OutOfScope()
            record_event(action, acting_user=acting_user, obj=obj, before=before, after=obj.audit_snapshot())
    except _OutOfScope:
        obj.refresh_from_db()
        raise deny(acting_user, "change", f"{model._meta.verbose_name} {obj} that way", obj) from None
    return obj


def delete_object(obj, *, acting_user) -> None:
    require(acting_user, "delete", obj)
    with transaction.atomic():
        record_event(Action.DELETE, acting_user=acting_user, obj=obj, before=obj.audit_snapshot())
        obj.delete()
