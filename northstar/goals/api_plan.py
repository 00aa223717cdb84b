"""API: plan as code (`POST /plan/apply`), a YAML plan file as the body or as a multipart upload."""

from typing import Literal

from django.core.exceptions import RequestDataTooBig
from ninja import Field, Router, Schema, Status

from northstar.api.errors import ERRORS
from northstar.goals.plan import MAX_PLAN_BYTES, Change, PlanResult, do_apply_plan

router = Router(tags=["plan"])

YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain",
              "application/json", ""}
STATUS = {"invalid": 422, "forbidden": 403, "conflict": 409}
Value = bool | int | float | str | None


class PlanFieldChange(Schema):
    field: str = Field(description='The field as the file spells it ("weight", "onTrack", "manual.target")')
    before: Value = Field(description="The value today (null for a create); references by key")
    after: Value = Field(description="The value in the file")


class PlanChange(Schema):
    action: Literal["create", "update", "keep"] = Field(
        description="keep: in the database for the file's subjects but not in the file; it is left alone")
    kind: Literal["period", "org_unit", "service", "process", "measure", "target", "objective", "key_result"]
    key: str = Field(description="The object's key; a target is measure@period")
    line: int | None = Field(description="Where the object is declared in the file; null for keep")
    changes: list[PlanFieldChange] = Field(description="Creates: the fields the file gives; updates: the "
                                                       "fields that differ; keep: empty")


class PlanCounts(Schema):
    create: int
    update: int
    unchanged: int
    keep: int


class PlanOut(Schema):
    file_name: str
    dry_run: bool
    applied: bool = Field(description="True when the changes were written; false for a dry run and for a "
                                      "file that changes nothing")
    counts: PlanCounts
    changes: list[PlanChange] = Field(description="Creates and updates, in the order they are written")
    kept: list[PlanChange] = Field(description="Objects the file does not mention, left as they are")


REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The plan file: YAML (or JSON) as the body, or a multipart upload in the field `file`.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                           "required": ["file"]},
            },
        },
    }
}


@router.post("/plan/apply", response={200: PlanOut, **ERRORS}, summary="Apply a plan file",
             openapi_extra=REQUEST_BODY)
def apply_plan(request, dry_run: bool = True, file_name: str = "plan.yaml"):
    """Send a plan file (docs/plan-as-code.md) as the request body (`Content-Type:
    application/yaml` or `text/plain`) or as the multipart field `file`.

    With `dry_run=true` (the default) nothing is written and the answer is the diff:
    what would be created and updated (field by field, before and after), and what
    the database holds for the same subjects that the file does not mention (kept).
    With `dry_run=false` the changes are written in one transaction, each through
    the same checks and audit as the rest of the API; applying the same file again
    changes nothing. `file_name` names a plan sent as the body in error messages.

    A file with errors changes nothing and is answered with the usual error body;
    `fields` has one entry per line of the file with a problem:

        {"error": {"code": "invalid",
                   "message": "plan.yaml has 2 errors; nothing was applied.",
                   "fields": {"plan.yaml:42": ["measure 'deploys': unknown subject org unit 'platfrom'"],
                              "plan.yaml:57": ["objective parents make a cycle: a -> b -> a"]}}}

    The status is 422 for a wrong file, 403 when the acting user may not make one of
    the changes (also on a dry run) and 409 when a change clashes with existing data.
    """
    data, name, problem = _read(request, file_name)
    if problem is not None:
        return problem
    result = do_apply_plan(data, name, acting_user=request.auth, dry_run=dry_run)
    if result.errors:
        return Status(_status(result), _error_body(result))
    return plan_out(result)


def _read(request, file_name: str):
    """(data, file name, None), or (None, None, an error response)."""
    too_big = f"The plan is larger than {MAX_PLAN_BYTES // (1024 * 1024)} MB."
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            return None, None, Status(422, _body("The plan file is missing.", {"file": [
                "Upload the plan in the multipart field 'file'."]}))
        name = upload.name or file_name
        if upload.size is not None and upload.size > MAX_PLAN_BYTES:
            return None, None, Status(422, _body(too_big, {f"{name}:1": [too_big]}))
        return upload.read(), name, None
    if request.content_type not in YAML_TYPES:
        return None, None, Status(400, _body(
            f"Send the plan as application/yaml or text/plain, or as the multipart field 'file', "
            f"not as {request.content_type}.", {}, "bad_request"))
    try:
        return request.body, file_name, None
    except RequestDataTooBig:
        return None, None, Status(422, _body(too_big, {f"{file_name}:1": [too_big]}))


def plan_out(result: PlanResult) -> dict:
    return {
        "file_name": result.file_name,
        "dry_run": result.dry_run,
        "applied": result.applied,
        "counts": result.counts,
        "changes": [_change(c) for c in result.changes],
        "kept": [_change(c) for c in result.kept],
    }


def _change(change: Change) -> dict:
    return {"action": change.action, "kind": change.kind, "key": change.key, "line": change.line,
            "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in change.changes]}


def _error_body(result: PlanResult) -> dict:
    fields: dict[str, list[str]] = {}
    for error in result.errors:
        fields.setdefault(f"{error.file_name}:{error.line}", []).append(error.message)
    count = len(result.errors)
    message = f"{result.file_name} has {count} error{'' if count == 1 else 's'}; nothing was applied."
    return _body(message, fields, {403: "forbidden", 409: "conflict"}.get(_status(result), "invalid"))


def _status(result: PlanResult) -> int:
    """403 when a change is not allowed, 409 when it clashes with existing data, 422 otherwise."""
    codes = {error.code for error in result.errors}
    return next(STATUS[code] for code in ("forbidden", "conflict", "invalid") if code in codes)


def _body(message: str, fields: dict, code: str = "invalid") -> dict:
    return {"error": {"code": code, "message": message, "fields": fields}}
