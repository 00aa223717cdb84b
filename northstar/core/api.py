"""API: who am I, and API tokens."""

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.core.models import ApiToken
from northstar.core.roles import actor_for
from northstar.core.services import MAX_TOKEN_DAYS, do_create_api_token, do_revoke_api_token

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
