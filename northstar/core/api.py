"""API: who am I, and API tokens."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.core.models import ApiToken
from northstar.core.permissions import require_role
from northstar.core.roles import Role, actor_for
from northstar.core.services import (
    MAX_TOKEN_DAYS,
    do_create_api_token,
    do_create_user,
    do_grant_role,
    do_revoke_api_token,
    do_revoke_role,
)
from northstar.directory.models import Person

router = Router(tags=["accounts"])


class MeOut(Schema):
    username: str
    roles: list[str]
    person_uid: str | None


class TokenOut(Schema):
    uid: str
    name: str
    key_id: str
    scope: str
    status: str
    created: datetime
    expires: datetime
    revoked: datetime | None
    last_used: datetime | None

    @staticmethod
    def resolve_uid(obj):
        return str(obj.uid)


class TokenIn(Schema):
    name: str
    scope: ApiToken.Scope = ApiToken.Scope.READ
    days: int = 90


class TokenCreated(TokenOut):
    token: str


@router.get("/me", response={200: MeOut, **ERRORS})
def me(request):
    actor = actor_for(request.auth)
    person = getattr(request.auth, "person", None)
    return {
        "username": actor.username,
        "roles": sorted(actor.roles),
        "person_uid": str(person.uid) if person else None,
    }


@router.get("/tokens", response={200: list[TokenOut], **ERRORS})
@paginate
def list_tokens(request):
    return ApiToken.objects.restrict(request.auth, "view")


@router.post("/tokens", response={201: TokenCreated, **ERRORS},
             description=f"Create a token for yourself. The token is shown once; at most {MAX_TOKEN_DAYS} days.")
def create_token(request, payload: TokenIn):
    row, token = do_create_api_token(name=payload.name, scope=payload.scope, days=payload.days,
                                     acting_user=request.auth)
    row.token = token
    return Status(201, row)


@router.post("/tokens/{uid}/revoke", response={200: TokenOut, **ERRORS})
def revoke_token(request, uid: str):
    token = get_object_or_404(ApiToken.objects.restrict(request.auth, "view"), uid=uid)
    return do_revoke_api_token(token, acting_user=request.auth)


# -- users and roles (administrators) --------------------------------------------------------


class UserOut(Schema):
    username: str
    email: str
    is_active: bool
    roles: list[str]
    person_uid: str | None

    @staticmethod
    def resolve_roles(obj):
        return sorted(grant.role for grant in obj.role_grants.all())

    @staticmethod
    def resolve_person_uid(obj):
        person = getattr(obj, "person", None)
        return str(person.uid) if person else None


class UserIn(Schema):
    username: str
    email: str = ""
    password: str | None = Field(None, description="Leave out for accounts that sign in by other means")
    roles: list[Role] = []
    employee_id: str | None = Field(None, description="Link the account to this person in the directory")


class RoleIn(Schema):
    role: Role


def _users(user):
    require_role(user, Role.ADMIN, to="manage user accounts")
    return get_user_model().objects.prefetch_related("role_grants").select_related("person").order_by("username")


@router.get("/users", response={200: list[UserOut], **ERRORS}, tags=["users"])
@paginate
def list_users(request):
    return _users(request.auth)


@router.post("/users", response={201: UserOut, **ERRORS}, tags=["users"])
def create_user(request, payload: UserIn):
    _users(request.auth)
    person = None
    if payload.employee_id:
        person = Person.objects.restrict(request.auth, "change").filter(employee_id=payload.employee_id).first()
        if person is None:
            raise ValidationError({"employee_id": [f"No person with employee id {payload.employee_id!r}."]})
    user = do_create_user(username=payload.username, email=payload.email, password=payload.password,
                          roles=payload.roles, person=person, acting_user=request.auth)
    return Status(201, _users(request.auth).get(pk=user.pk))


@router.post("/users/{username}/roles", response={200: UserOut, **ERRORS}, tags=["users"])
def grant_role(request, username: str, payload: RoleIn):
    user = get_object_or_404(_users(request.auth), username=username)
    do_grant_role(user, payload.role, acting_user=request.auth)
    return _users(request.auth).get(pk=user.pk)


@router.delete("/users/{username}/roles/{role}", response={200: UserOut, **ERRORS}, tags=["users"])
def revoke_role(request, username: str, role: Role):
    user = get_object_or_404(_users(request.auth), username=username)
    do_revoke_role(user, role, acting_user=request.auth)
    return _users(request.auth).get(pk=user.pk)
