"""API: collecting observations (docs/ingest.md).

    POST /observations             a JSON batch of up to INGEST_MAX_BATCH observations
    GET  /observations             a measure's observations with their provenance
    POST /observations/upload      a CSV or XLSX file, dry run by default
    POST /ingest/openmetrics       an OpenMetrics or Prometheus text exposition (alias /ingest/prometheus)

Every channel stores through do_ingest: per-item checks, all or nothing unless
`partial`, source-id dedupe, a provenance batch, aggregates and one audit event.
"""

import json
from datetime import datetime
from typing import Annotated, Any, NotRequired
from uuid import UUID

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from northstar.api.errors import ERRORS, ErrorBody
from northstar.directory.importer import MAX_FILE_BYTES, LineError
from northstar.measures.files import FileIngest, ingest_file
from northstar.measures.ingest import IngestRejected, ItemError, ObservationIn, do_ingest
from northstar.measures.models import IngestBatch, Measure, Observation
from northstar.measures.openmetrics import (
    FORMAT_NAMES,
    OPENMETRICS_TYPE,
    ExpositionError,
    map_samples,
    parse_exposition,
)

router = Router(tags=["observations"])

PUSH_ERRORS = {**ERRORS, 413: ErrorBody}


def _error(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> Status:
    return Status(status, {"error": {"code": code, "message": message, "fields": fields or {}}})


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _detail(request, prefix: str = "") -> str:
    agent = request.headers.get("User-Agent", "")
    return " ".join(part for part in (prefix, agent and f"({agent})") if part)[:300]


# -- the JSON batch ----------------------------------------------------------------------------


# The items are a TypedDict, not a ninja Schema (nor a pydantic model): ninja runs a Python
# validator (DjangoGetter) on every Schema object, and pydantic validates a TypedDict in Rust
# and hands back the dict itself: 10,000 items take ~5 ms, against 30 ms as pydantic models and 0.25 s
# as Schemas.
class ObservationItem(TypedDict):
    measure: Annotated[Any, Field(description="The measure's key (a string)")]
    ts: Annotated[Any, Field(description="ISO 8601 time, e.g. 2026-03-01T09:30:00Z; without an offset it is "
                                         "read in the organisation's time zone")]
    value: NotRequired[Annotated[Any, Field(description="A number (a numeric string is accepted). Any other JSON "
                                                        "value, NaN or ±Infinity is refused for this item, not "
                                                        "for the request. Leave out for a ratio measure")]]
    good: NotRequired[Annotated[Any, Field(description="Ratio measures: good events (a number ≥ 0)")]]
    total: NotRequired[Annotated[Any, Field(description="Ratio measures: all events (a number ≥ good)")]]
    source_id: NotRequired[Annotated[str | int | None, Field(
        description="Your id for this value (at most 128 characters): an id already stored for the measure is "
                    "a duplicate and adds nothing, so a re-sent batch adds nothing")]]


class ObservationsIn(Schema):
    observations: list[ObservationItem] = Field(
        ..., json_schema_extra={"maxItems": settings.INGEST_MAX_BATCH},
        description=f"At most {settings.INGEST_MAX_BATCH:,} items (INGEST_MAX_BATCH)")
    partial: bool = Field(False, description="false: any bad item and nothing is written (422). true: the good "
                                             "items are written and the bad ones reported in `errors`")


class ItemErrorOut(Schema):
    item: int = Field(description="The item's index in `observations`, from 0")
    field: str = Field(description="measure, ts, value, good, total or source_id")
    message: str


class IngestOut(Schema):
    received: int = Field(description="Items in the request")
    written: int = Field(description="New observations stored")
    duplicates: int = Field(description="Items whose source_id was already stored (or repeated in the batch)")
    rejected: int = Field(description="Bad items (only with partial=true; otherwise the answer is 422)")
    batch: UUID | None = Field(description="The provenance batch; null when nothing was written")
    errors: list[ItemErrorOut]


def _json_key(value) -> str:
    # A measure key given as a number, list or object is simply an unknown measure.
    return value if isinstance(value, str) else json.dumps(value, default=str)


def item_field(index: int, name: str) -> str:
    """The error field of item `index` (from 0), named as ninja names body validation errors."""
    return f"observations.{index}.{name}"


def _item_errors(errors: list[ItemError]) -> list[dict]:
    # do_ingest counts items from 1 when they have no line; the API counts from 0, as JSON arrays do.
    return [{"item": e.item - 1, "field": e.field, "message": e.message} for e in errors]


@router.post("/observations", response={200: IngestOut, **ERRORS}, summary="Send a batch of observations")
def post_observations(request, payload: ObservationsIn):
    """Store up to `INGEST_MAX_BATCH` (10,000) observations in one batch.

    Each item is `{"measure", "ts", "value"}`, or `{"measure", "ts", "good", "total"}`
    for a ratio measure, with an optional `source_id`. Items are checked one by one:
    a value that is not a finite number (text, null, NaN, Infinity), an unknown
    measure (or one you may not change), a time more than INGEST_MAX_FUTURE_SECONDS
    ahead, or a total below good is an error *of that item*.

    By default a batch with any bad item writes nothing and is answered **422**,
    with one entry per bad field in `fields`, named by the item's index (from 0),
    as schema errors are:

        {"error": {"code": "invalid",
                   "message": "2 of 3 observations are bad; nothing was written.",
                   "fields": {"observations.1.value": ["not a number: 'abc'"],
                              "observations.2.measure": ["unknown measure 'nope'"]}}}

    With `"partial": true` the good items are written and the bad ones listed in
    `errors` (200). Items whose `source_id` is already stored for the measure count
    as `duplicates` and add nothing, so sending the same batch twice is safe.
    More items than the limit is a 422 on `observations`, before any check.
    """
    limit = settings.INGEST_MAX_BATCH
    if len(payload.observations) > limit:
        raise DjangoValidationError({"observations": [
            f"At most {limit:,} observations per request, not {len(payload.observations):,}: split the batch."]})
    items = [ObservationIn(measure=_json_key(o["measure"]), ts=o["ts"], value=o.get("value"), good=o.get("good"),
                           total=o.get("total"), source_id=o.get("source_id")) for o in payload.observations]
    try:
        result = do_ingest(items, source=IngestBatch.Source.API, acting_user=request.auth,
                           token=getattr(request, "api_token", None), detail=_detail(request),
                           partial=payload.partial)
    except IngestRejected as rejected:
        fields: dict[str, list[str]] = {}
        for error in rejected.errors:
            fields.setdefault(item_field(error.item - 1, error.field), []).append(error.message)
        bad = len({e.item for e in rejected.errors})
        return _error(422, "invalid", f"{bad:,} of {_plural(len(items), 'observation')} "
                                      f"{'is' if bad == 1 else 'are'} bad; nothing was written.", fields)
    return {"received": result.received, "written": result.written, "duplicates": result.duplicates,
            "rejected": len({e.item for e in result.errors}), "batch": result.batch and result.batch.uid,
            "errors": _item_errors(result.errors)}


# -- reading observations ----------------------------------------------------------------------


class ProvenanceOut(Schema):
    batch: UUID
    source: str = Field(description="check_in, api, file, openmetrics, prometheus, sql or demo")
    received: datetime
    user: str | None = Field(description="Who sent it (username); null for the system")
    token: str | None = Field(description="The name of the API token it came with, if any")
    detail: str = Field(description="File name, client or pull source")


class ObservationOut(Schema):
    measure: str
    ts: datetime
    value: float | None
    good: float | None
    total: float | None
    source_id: str | None
    provenance: ProvenanceOut

    @staticmethod
    def resolve_measure(obj):
        return obj.measure.key

    @staticmethod
    def resolve_provenance(obj):
        batch = obj.batch
        return {"batch": batch.uid, "source": batch.source, "received": batch.received,
                "user": batch.user.get_username() if batch.user else None,
                "token": batch.token.name if batch.token else None, "detail": batch.detail}


class ObservationFilter(Schema):
    measure: str = Field(..., description="The measure's key")
    since: datetime | None = Field(None, description="From this time (inclusive)")
    until: datetime | None = Field(None, description="Before this time (exclusive)")


def _aware(moment: datetime | None) -> datetime | None:
    return timezone.make_aware(moment) if moment is not None and timezone.is_naive(moment) else moment


@router.get("/observations", response={200: list[ObservationOut], **ERRORS}, summary="List observations")
@paginate
def list_observations(request, filters: Query[ObservationFilter]):
    """A measure's observations, newest first, each with its provenance (batch, source, received
    time, user, token). 404 when no measure with that key is visible to you."""
    measure = get_object_or_404(Measure.objects.restrict(request.auth, "view"), key=filters.measure)
    # Observation's default manager is a plain one: restrict through the same queryset class.
    rows = Observation.objects.restrict(request.auth, "view").filter(measure=measure)
    if filters.since:
        rows = rows.filter(ts__gte=_aware(filters.since))
    if filters.until:
        rows = rows.filter(ts__lt=_aware(filters.until))
    return rows.select_related("measure", "batch__user", "batch__token").order_by("-ts", "-id")


# -- files -------------------------------------------------------------------------------------


class FileLineErrorOut(Schema):
    line: int = Field(description="Line (CSV, the header is line 1) or row (XLSX) of the problem")
    column: str = Field(description="The column as headed in the file; empty for the file as a whole")
    message: str


class MeasureLinesOut(Schema):
    measure: str
    name: str
    lines: int = Field(description="Good lines for this measure (duplicates included)")
    first: datetime | None
    last: datetime | None


class PreviewRowOut(Schema):
    line: int
    measure: str
    ts: str
    value: float | str | None
    good: float | str | None
    total: float | str | None
    source_id: str | None


class UploadOut(Schema):
    file_name: str
    dry_run: bool
    applied: bool = Field(description="True when observations were written (never on a dry run)")
    rows: int = Field(description="Data rows read (blank rows skipped)")
    columns: dict[str, str] = Field(description="Field -> the file's header that was mapped to it")
    ignored_columns: list[str]
    received: int
    written: int = Field(description="Observations written, or on a dry run that would be written")
    duplicates: int = Field(description="Lines whose source_id is already stored (or repeated in the file)")
    rejected: int = Field(description="Lines with errors (only with partial=true; otherwise the answer is 422)")
    batch: UUID | None
    measures: list[MeasureLinesOut]
    preview: list[PreviewRowOut] = Field(description="The first good lines")
    errors: list[FileLineErrorOut]


def _preview_value(value):
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return str(value)


def upload_out(outcome: FileIngest) -> dict:
    return {
        "file_name": outcome.file_name, "dry_run": outcome.dry_run, "applied": outcome.applied,
        "rows": outcome.read.rows, "columns": outcome.read.columns, "ignored_columns": outcome.read.ignored_columns,
        "received": outcome.received, "written": outcome.written, "duplicates": outcome.duplicates,
        "rejected": outcome.rejected, "batch": outcome.batch and outcome.batch.uid,
        "measures": [{"measure": m.key, "name": m.name, "lines": m.lines, "first": m.first, "last": m.last}
                     for m in outcome.measures],
        "preview": [{"line": i.line, "measure": i.measure, "ts": i.ts.isoformat() if isinstance(i.ts, datetime)
                     else str(i.ts), "value": _preview_value(i.value), "good": _preview_value(i.good),
                     "total": _preview_value(i.total), "source_id": i.source_id} for i in outcome.preview],
        "errors": [{"line": e.line, "column": e.column, "message": e.message} for e in outcome.errors],
    }


def line_fields(errors: list[LineError]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        message = f"{error.column}: {error.message}" if error.column else error.message
        fields.setdefault(f"line {error.line}", []).append(message)
    return fields


@router.post("/observations/upload", response={200: UploadOut, **ERRORS}, summary="Upload an observation file")
def upload_observations(request, file: File[UploadedFile], dry_run: bool = True, partial: bool = False):
    """Upload a CSV (UTF-8) or XLSX file of observations as the multipart field `file`.

    Columns, found by header whatever the case: `measure`, `ts`, `value` (or `good`
    and `total` for ratio measures) and optional `source_id` (docs/ingest.md). With
    `dry_run=true` (the default) every line is checked exactly as for real and the
    answer says what would be written, writing nothing; `dry_run=false` stores the
    file as one batch.

    A file with errors writes nothing and is answered **422**; `fields` has one
    entry per line with a problem (the header is line 1; for XLSX, the sheet's row):

        {"error": {"code": "invalid",
                   "message": "deploys.csv has 2 errors; nothing was written.",
                   "fields": {"line 3": ["value: not a number: 'abc'"],
                              "line 7": ["measure: unknown measure 'nope'"]}}}

    With `partial=true` the good lines are written (or, on a dry run, would be) and
    the bad ones listed in `errors` (200), unless the file cannot be read at all.
    """
    if file.size is not None and file.size > MAX_FILE_BYTES:
        return _error(422, "invalid", f"{file.name or 'The file'} is too large; nothing was written.",
                      {"line 1": [f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."]})
    outcome = ingest_file(file.name or "upload", file.read(), acting_user=request.auth,
                          token=getattr(request, "api_token", None), dry_run=dry_run, partial=partial)
    if outcome.read.errors or (outcome.errors and not partial):
        count = len(outcome.errors)
        return _error(422, "invalid", f"{outcome.file_name} has {_plural(count, 'error')}; nothing was written.",
                      line_fields(outcome.errors))
    return upload_out(outcome)


# -- OpenMetrics / Prometheus pushes -----------------------------------------------------------


class PushErrorOut(Schema):
    item: int = Field(description="The observation's index among those made from the push, from 0")
    series: str = Field(description="The sample(s) it was made from")
    measure: str
    field: str
    message: str


class PushOut(Schema):
    format: str = Field(description="openmetrics or prometheus: the parser used, from the Content-Type")
    families: int = Field(description="Metric families parsed")
    samples: int = Field(description="Samples parsed")
    unmapped: int = Field(description="Samples that match no measure you may change (not an error)")
    received: int = Field(description="Observations made from the samples that match a measure")
    written: int
    duplicates: int = Field(description="Timestamped observations pushed before (same time and series)")
    rejected: int = Field(description="Bad observations (only with partial=true; otherwise the answer is 422)")
    batch: UUID | None
    errors: list[PushErrorOut]


PUSH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            OPENMETRICS_TYPE: {"schema": {"type": "string"},
                               "example": '# TYPE deploys counter\ndeploys_total{service="payments"} 42\n# EOF\n'},
            "text/plain": {"schema": {"type": "string"},
                           "example": '# TYPE deploys_total counter\ndeploys_total{service="payments"} 42\n'},
        },
    },
}


def push(request, partial: bool = False):
    """Push an exposition in the OpenMetrics text format (`Content-Type: application/openmetrics-text`)
    or the Prometheus text format 0.0.4 (`text/plain`, and any other type).

    The whole body is parsed with prometheus-client's parser for that format first;
    an exposition that does not parse is answered **400** naming the line where the
    parser stopped, and nothing is stored. The message reads e.g. "The body is not
    valid OpenMetrics text: line 3 ('a{b=} 2'): Invalid labels: b=. Nothing was
    stored.", and `fields` is `{"line 3": ["Invalid labels: b="]}`.

    Samples then feed measures through their `metric_selector`: a sample feeds a
    measure when its name (as written: `x_total` for a counter `x`, `x_bucket`,
    `x_count`, `x_sum` for a histogram, `x` for a gauge) equals the selector's name
    and the selector's labels are a subset of the sample's labels. Samples without a
    timestamp take the time the push was received; several samples feeding one
    measure at one time are added up. Samples that feed no measure you may change are
    counted in `unmapped`. The observations are then checked like any batch: a bad
    one (e.g. NaN) answers **422** and writes nothing, unless `partial=true`.
    """
    received = timezone.now()
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _error(413, "too_large", f"The body is larger than {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); "
                                        "push fewer samples at a time.")
    try:
        exposition = parse_exposition(body, request.content_type)
    except ExpositionError as error:
        fields = {f"line {error.line}": [error.detail]} if error.line else {}
        return _error(400, "bad_request", error.message + " Nothing was stored.", fields)
    measures = (Measure.objects.restrict(request.auth, "change").filter(is_active=True)
                .exclude(metric_selector=""))
    items, unmapped = map_samples(exposition.families, measures, received=received)
    summary = {"format": exposition.format, "families": len(exposition.families), "samples": exposition.samples,
               "unmapped": unmapped, "received": len(items)}
    try:
        result = do_ingest(items, source=IngestBatch.Source.OPENMETRICS, acting_user=request.auth,
                           token=getattr(request, "api_token", None), partial=partial,
                           detail=_detail(request, f"{FORMAT_NAMES[exposition.format]} push"))
    except IngestRejected as rejected:
        fields: dict[str, list[str]] = {}
        for error in rejected.errors:
            item = items[error.item - 1]
            fields.setdefault(item.series, []).append(f"{item.measure} {error.field}: {error.message}")
        bad = len({e.item for e in rejected.errors})
        return _error(422, "invalid", f"{bad:,} of {_plural(len(items), 'observation')} made from the push "
                                      f"{'is' if bad == 1 else 'are'} bad; nothing was stored.", fields)
    errors = [{"item": e.item - 1, "series": items[e.item - 1].series, "measure": items[e.item - 1].measure,
               "field": e.field, "message": e.message} for e in result.errors]
    return {**summary, "written": result.written, "duplicates": result.duplicates,
            "rejected": len({e.item for e in result.errors}), "batch": result.batch and result.batch.uid,
            "errors": errors}


router.add_api_operation("/ingest/openmetrics", ["POST"], push, response={200: PushOut, **PUSH_ERRORS},
                         summary="Push OpenMetrics or Prometheus text", openapi_extra=PUSH_BODY,
                         operation_id="push_openmetrics", url_name="push_openmetrics")
router.add_api_operation("/ingest/prometheus", ["POST"], push, response={200: PushOut, **PUSH_ERRORS},
                         summary="Push Prometheus or OpenMetrics text (alias of /ingest/openmetrics)",
                         openapi_extra=PUSH_BODY, operation_id="push_prometheus", url_name="push_prometheus")
