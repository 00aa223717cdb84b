"""API: scheduled pull sources (Prometheus and SQL queries feeding a measure); administrators only.

The connection URL is write-only: answers carry `url_redacted` (password and
token replaced by ***), never the URL itself (docs/pulls.md).
"""

from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.core.permissions import require_role
from northstar.core.roles import Role
from northstar.measures import services_pull
from northstar.measures.connectors import redact_url
from northstar.measures.connectors.runner import PullResult
from northstar.measures.models import Measure, PullSource

router = Router(tags=["pull sources"])

URL_HELP = ("Prometheus base URL (http/https; https://user:password@host for basic auth, https://:token@host "
            "for a bearer token) or a database URL (sqlite:////path/file.db, postgres://user:password@host/db). "
            "Write-only: never shown back.")


class PullMeasureRef(Schema):
    uid: UUID
    key: str
    name: str


class PullSourceOut(Schema):
    uid: UUID
    measure: PullMeasureRef
    kind: str
    url_redacted: str = Field(description="The URL with its password, token and secret parameters as ***")
    query: str
    mode: str
    step_seconds: int
    every_seconds: int
    is_active: bool
    next_run: datetime | None
    last_run: datetime | None
    last_success: datetime | None
    last_error: str = Field(description="Why the last run failed, or which points it rejected; empty when clean")
    last_ts: datetime | None = Field(description="Newest time pulled so far; incremental pulls continue after it")
    created: datetime
    updated: datetime

    @staticmethod
    def resolve_measure(obj):
        return {"uid": obj.measure.uid, "key": obj.measure.key, "name": obj.measure.name}

    @staticmethod
    def resolve_url_redacted(obj):
        return redact_url(obj.url)


class PullSourceIn(Schema):
    measure: str = Field(..., description="The measure's key")
    kind: PullSource.Kind
    url: str = Field(..., max_length=1000, description=URL_HELP)
    query: str = Field(..., description="PromQL, or SQL returning (ts, value) or (ts, good, total) rows")
    mode: PullSource.Mode = PullSource.Mode.INSTANT
    step_seconds: int = Field(300, description="Prometheus: seconds between points (times are aligned to it)")
    every_seconds: int = Field(300, description="How often the pull runs; at least 10")
    is_active: bool = True


class PullSourcePatch(Schema):
    measure: str | None = None
    kind: PullSource.Kind | None = None
    url: str | None = Field(None, max_length=1000, description=URL_HELP + " *** in place of the password keeps "
                                                                          "the stored one (same host and user).")
    query: str | None = None
    mode: PullSource.Mode | None = None
    step_seconds: int | None = None
    every_seconds: int | None = None
    is_active: bool | None = None


class PullSourceFilter(Schema):
    measure: str | None = Field(None, description="Measure key")
    kind: PullSource.Kind | None = None


class PullPoint(Schema):
    ts: str
    value: str | None = Field(None, description="As returned by the source")
    good: str | None = None
    total: str | None = None


class PullRunOut(Schema):
    ok: bool = Field(description="False when the pull failed as a whole (see error)")
    dry_run: bool
    error: str = Field(description="Why it failed, or which points were rejected")
    points: int = Field(description="Points the query returned")
    written: int
    duplicates: int = Field(description="Points already stored (pulled before): they add nothing")
    rejected: int
    item_errors: list[str]
    window_start: datetime | None
    window_end: datetime | None
    last_ts: datetime | None
    preview: list[PullPoint] = Field(description="Dry run: the first points")
    source: PullSourceOut


def _admin(user) -> None:
    require_role(user, Role.ADMIN, to=services_pull.CONFIGURE)


def _sources(user):
    _admin(user)
    return PullSource.objects.restrict(user, "view").select_related("measure")


def _measure(user, key: str) -> Measure:
    measure = Measure.objects.restrict(user, "view").filter(key=key).first()
    if measure is None:
        raise ValidationError({"measure": [f"No measure with key {key!r}."]})
    return measure


def _values(user, payload: Schema, partial: bool) -> dict:
    values = payload.model_dump(exclude_unset=partial)
    if partial:
        values = {k: v for k, v in values.items() if v is not None}
    if "measure" in values:
        values["measure"] = _measure(user, values["measure"])
    return values


def _text(value) -> str | None:
    return None if value is None else str(value)


def _run_out(source: PullSource, result: PullResult) -> dict:
    return {
        "ok": result.ok, "dry_run": result.dry_run, "error": result.error, "points": result.points,
        "written": result.written, "duplicates": result.duplicates, "rejected": result.rejected,
        "item_errors": result.item_errors, "window_start": result.window_start, "window_end": result.window_end,
        "last_ts": result.last_ts, "source": source,
        "preview": [{"ts": p.ts.isoformat() if isinstance(p.ts, datetime) else str(p.ts), "value": _text(p.value),
                     "good": _text(p.good), "total": _text(p.total)} for p in result.preview],
    }


@router.get("/pull-sources", response={200: list[PullSourceOut], **ERRORS})
@paginate
def list_pull_sources(request, filters: Query[PullSourceFilter]):
    sources = _sources(request.auth)
    if filters.measure:
        sources = sources.filter(measure__key=filters.measure)
    if filters.kind:
        sources = sources.filter(kind=filters.kind)
    return sources


@router.get("/pull-sources/{uid}", response={200: PullSourceOut, **ERRORS})
def get_pull_source(request, uid: UUID):
    return get_object_or_404(_sources(request.auth), uid=uid)


@router.post("/pull-sources", response={201: PullSourceOut, **ERRORS})
def create_pull_source(request, payload: PullSourceIn):
    """Configure a scheduled pull for a measure. A new active source is due at once."""
    _admin(request.auth)
    source = services_pull.do_create_pull_source(acting_user=request.auth, **_values(request.auth, payload, False))
    return Status(201, source)


@router.patch("/pull-sources/{uid}", response={200: PullSourceOut, **ERRORS})
def update_pull_source(request, uid: UUID, payload: PullSourcePatch):
    source = get_object_or_404(_sources(request.auth), uid=uid)
    return services_pull.do_update_pull_source(source, acting_user=request.auth,
                                               **_values(request.auth, payload, True))


@router.delete("/pull-sources/{uid}", response={204: None, **ERRORS})
def delete_pull_source(request, uid: UUID):
    """Stop pulling; the observations already pulled stay with the measure."""
    source = get_object_or_404(_sources(request.auth), uid=uid)
    services_pull.do_delete_pull_source(source, acting_user=request.auth)
    return Status(204, None)


@router.post("/pull-sources/{uid}/run", response={200: PullRunOut, **ERRORS})
def run_pull_source(request, uid: UUID):
    """Pull now, outside the schedule. A failed pull still answers 200, with `ok: false` and the reason."""
    source = get_object_or_404(_sources(request.auth), uid=uid)
    result = services_pull.do_run_pull_source(source, acting_user=request.auth)
    return _run_out(source, result)


@router.post("/pull-sources/{uid}/test", response={200: PullRunOut, **ERRORS})
def test_pull_source(request, uid: UUID):
    """Dry run: run the query once and validate the points; nothing is written, the source is unchanged."""
    source = get_object_or_404(_sources(request.auth), uid=uid)
    result = services_pull.do_test_pull_source(source, acting_user=request.auth)
    return _run_out(source, result)
