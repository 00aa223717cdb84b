"""Permission checks for services: the one place a denial is decided and audited."""

from django.core.exceptions import PermissionDenied

from northstar.core.roles import actor_for


def deny(user, action: str, what: str, obj=None) -> PermissionDenied:
    """Record the denial in the audit trail and return the exception to raise."""
    from northstar.audit.services import Action, record_event

    fields = {}
    if obj is None:
        fields = {"object_type": "", "object_id": "", "object_repr": what or action}
    record_event(
        Action.PERMISSION_DENIED,
        acting_user=user,
        obj=obj,
        after={"action": action, "what": what},
        **fields,
    )
    return PermissionDenied(f"You may not {' '.join(filter(None, [action, what]))}.")


def require(user, action: str, obj) -> None:
    """Raise PermissionDenied (audited) unless `user` may `action` this object."""
    model = type(obj)
    if not model.objects.restrict(user, action).filter(pk=obj.pk).exists():
        raise deny(user, action, f"{model._meta.verbose_name} {obj}", obj)


def require_role(user, *roles: str, to: str) -> None:
    """Raise PermissionDenied (audited) unless `user` holds one of `roles`."""
    if not actor_for(user).has_role(*roles):
        raise deny(user, to, "")
