"""API: search the audit trail (admins and auditors); verify the chain."""

from datetime import datetime

from ninja import FilterSchema, Query, Router, Schema
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.audit.queries import search_events
from northstar.audit.services import verify_chain
from northstar.core.permissions import deny
from northstar.core.roles import AUDIT_READER_ROLES, actor_for

router = Router(tags=["audit"])


class EventOut(Schema):
    seq: int
    time: datetime
    actor: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: str
    object_repr: str
    before: dict | None
    after: dict | None
    request_id: str
    client_ip: str
    hash: str
    prev_hash: str


class EventFilter(FilterSchema):
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class VerifyOut(Schema):
    ok: bool
    checked: int
    first_bad_seq: int | None
    problems: list[str]


def _require_reader(user) -> None:
    if not actor_for(user).has_role(*AUDIT_READER_ROLES):
        raise deny(user, "read", "the audit trail")


@router.get("/events", response={200: list[EventOut], **ERRORS})
@paginate
def list_events(request, filters: Query[EventFilter]):
    _require_reader(request.auth)
    return search_events(request.auth, **filters.model_dump())


@router.get("/verify", response={200: VerifyOut, **ERRORS})
def verify(request):
    _require_reader(request.auth)
    result = verify_chain()
    return {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq,
            "problems": result.problems}

