"""Accounts: role grants and API tokens."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from northstar.audit.services import Action, record_event
from northstar.core.models import ApiToken, RoleGrant
from northstar.core.permissions import require, require_role
from northstar.core.roles import Role, forget_actor

MAX_TOKEN_DAYS = 366


def do_create_user(*, username: str, password: str | None, email: str = "", acting_user, roles=(), person=None):
    """A login account; `person` links it to someone in the directory (who then signs in as them)."""
    from northstar.directory.services import do_update_person

    require_role(acting_user, Role.ADMIN, to="create a user account")
    User = get_user_model()
    errors = {}
    if not username or not username.strip():
        errors["username"] = ["A user name is required."]
    elif User.objects.filter(username=username).exists():
        errors["username"] = [f"{username!r} is taken."]
    if person is not None and person.user_id is not None:
        errors["employee_id"] = [f"{person.name} already has an account ({person.user})."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email or (person.email if person else ""),
                                        password=password)
        record_event(Action.CREATE, acting_user=acting_user, obj=user,
                     after={"username": username, "email": user.email})
        for role in roles:
            do_grant_role(user, role, acting_user=acting_user)
        if person is not None:
            do_update_person(person, user=user, acting_user=acting_user)
    return user


def do_grant_role(user, role: str, *, acting_user) -> RoleGrant:
    require_role(acting_user, Role.ADMIN, to="grant roles")
    if role not in Role.values:
        raise ValidationError({"role": [f"Unknown role {role!r}; use one of {', '.join(Role.values)}."]})
    with transaction.atomic():
        grant, created = RoleGrant.objects.get_or_create(user=user, role=role)
        if created:
            record_event(Action.CREATE, acting_user=acting_user, obj=grant,
                         after={"user": user.get_username(), "role": role})
    forget_actor(user)
    return grant


def do_revoke_role(user, role: str, *, acting_user) -> None:
    require_role(acting_user, Role.ADMIN, to="revoke roles")
    with transaction.atomic():
        for grant in RoleGrant.objects.filter(user=user, role=role):
            record_event(Action.DELETE, acting_user=acting_user, obj=grant,
                         before={"user": user.get_username(), "role": role})
            grant.delete()
    forget_actor(user)


def do_create_api_token(*, name: str, scope: str, days: int = 90, acting_user, user=None) -> tuple[ApiToken, str]:
    """A new token for `user` (default: the caller). Returns the row and the secret, shown once."""
    owner = user or acting_user
    if owner != acting_user:
        require_role(acting_user, Role.ADMIN, to="create tokens for someone else")
    errors = {}
    if not name or not name.strip():
        errors["name"] = ["Give the token a name that says what uses it."]
    if scope not in ApiToken.Scope.values:
        errors["scope"] = [f"Must be one of {', '.join(ApiToken.Scope.values)}."]
    if not 1 <= days <= MAX_TOKEN_DAYS:
        errors["days"] = [f"Must be between 1 and {MAX_TOKEN_DAYS}."]
    if errors:
        raise ValidationError(errors)
    key_id, _secret, token = ApiToken.new_secret()
    with transaction.atomic():
        row = ApiToken.objects.create(
            user=owner, name=name.strip(), key_id=key_id, digest=ApiToken.digest_of(token), scope=scope,
            expires=timezone.now() + timedelta(days=days),
        )
        record_event(Action.TOKEN_CREATED, acting_user=acting_user, obj=row, after=row.audit_snapshot())
    return row, token


def do_revoke_api_token(token: ApiToken, *, acting_user) -> ApiToken:
    require(acting_user, "change", token)
    if token.revoked is not None:
        return token
    before = token.audit_snapshot()
    with transaction.atomic():
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
        record_event(Action.TOKEN_REVOKED, acting_user=acting_user, obj=token, before=before,
                     after=token.audit_snapshot())
    return token


def authenticate_token(raw: str) -> ApiToken | None:
    """The active token for this bearer value, or None. Marks it used (at most once a minute)."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != ApiToken.PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=parts[1]).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    import hmac

    if not hmac.compare_digest(token.digest, ApiToken.digest_of(raw)):
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token
