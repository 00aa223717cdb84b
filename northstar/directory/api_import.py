"""API: the HCM people import (`POST /imports/people`), a multipart upload of a CSV or XLSX file."""

from ninja import Field, File, Router, Schema, Status, UploadedFile

from northstar.api.errors import ERRORS
from northstar.directory.importer import MAX_FILE_BYTES, ImportResult, PersonLine, do_import_people

router = Router(tags=["imports"])

LIST_LIMIT = 500  # people listed per section of the answer; `counts` always has the totals


class ImportCounts(Schema):
    create: int
    update: int
    unchanged: int
    deactivate: int


class FieldChange(Schema):
    field: str = Field(description="employee_id, name, email, job_title, job_role, manager, org_unit, "
                                   "location, employment_status or hire_date")
    before: str = Field(description="The value today: managers by employee id, org units by key")
    after: str = Field(description="The value in the file")


class ImportedPerson(Schema):
    employee_id: str
    name: str
    line: int | None = Field(None, description="The person's line (CSV) or row (XLSX); none for "
                                               "deactivations, who are not in the file")
    changes: list[FieldChange] = Field(default_factory=list, description="Only for updates")


class ImportLineError(Schema):
    line: int = Field(description="Line (CSV, the header is line 1) or row (XLSX) of the problem")
    column: str = Field(description="The column as headed in the file; empty for the file as a whole")
    message: str


class ImportOut(Schema):
    file_name: str
    dry_run: bool
    applied: bool = Field(description="True when changes were written; false for a dry run and for a "
                                      "file that changes nothing")
    rows: int = Field(description="Data rows read (blank rows skipped)")
    counts: ImportCounts
    columns: dict[str, str] = Field(description="Field -> the file's header that was mapped to it")
    ignored_columns: list[str] = Field(description="Headers that map to no field")
    creates: list[ImportedPerson]
    updates: list[ImportedPerson]
    deactivations: list[ImportedPerson]
    list_limit: int = Field(LIST_LIMIT, description="creates, updates and deactivations list at most this "
                                                    "many people each")
    truncated: bool = Field(description="True when a list above was cut at list_limit")
    errors: list[ImportLineError] = Field(description="Always empty here: a file with errors is answered "
                                                      "with 422 and imports nothing")


@router.post("/imports/people", response={200: ImportOut, **ERRORS}, summary="Import people (HCM file)")
def import_people(request, file: File[UploadedFile], dry_run: bool = True, deactivate_missing: bool = True):
    """Upload an HR system's export (CSV in UTF-8, or XLSX) as the multipart field `file`.

    Columns are mapped by header (docs/import.md lists the accepted headers) and
    rows are keyed by employee id. With `dry_run=true` (the default) nothing is
    written and the answer previews the creates, updates (field by field) and
    deactivations (active people missing from the file, unless
    `deactivate_missing=false`). With `dry_run=false` the whole file is applied in
    one transaction, every change audited; importing the same file again changes
    nothing.

    Only the admin and HR roles may import (403 otherwise, also for a dry run).

    A file with any error imports nothing and is answered with **422** and the
    usual error body; `fields` has one entry per line with a problem, the header
    being line 1 (for XLSX, the sheet's row number):

        {"error": {"code": "invalid",
                   "message": "people.csv has 2 errors; nothing was imported.",
                   "fields": {"line 7": ["unknown manager 'E999'"],
                              "line 9": ["bad email 'jo@'", "bad hire date '06/01/2020': use YYYY-MM-DD"]}}}
    """
    if file.size is not None and file.size > MAX_FILE_BYTES:
        return Status(422, _error_body(file.name, {"line 1": [
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."]}))
    result = do_import_people(file.name or "upload", file.read(), acting_user=request.auth, dry_run=dry_run,
                              deactivate_missing=deactivate_missing)
    if result.errors:
        return Status(422, _error_body(result.file_name, _errors_by_line(result)))
    return import_out(result)


def import_out(result: ImportResult) -> dict:
    plan = result.plan
    sections = {"creates": plan.creates, "updates": plan.updates, "deactivations": plan.deactivations}
    return {
        "file_name": result.file_name,
        "dry_run": result.dry_run,
        "applied": result.applied,
        "rows": plan.rows,
        "counts": plan.counts,
        "columns": plan.columns,
        "ignored_columns": plan.ignored_columns,
        **{name: [_person(p) for p in people[:LIST_LIMIT]] for name, people in sections.items()},
        "list_limit": LIST_LIMIT,
        "truncated": any(len(people) > LIST_LIMIT for people in sections.values()),
        "errors": [],
    }


def _person(line: PersonLine) -> dict:
    changes = [{"field": name, "before": before, "after": after} for name, (before, after) in line.changes.items()]
    return {"employee_id": line.employee_id, "name": line.name, "line": line.line, "changes": changes}


def _errors_by_line(result: ImportResult) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in result.errors:
        fields.setdefault(f"line {error.line}", []).append(error.message)
    return fields


def _error_body(file_name: str | None, fields: dict[str, list[str]]) -> dict:
    count = sum(len(messages) for messages in fields.values())
    noun = "error" if count == 1 else "errors"
    message = f"{file_name or 'The file'} has {count} {noun}; nothing was imported."
    return {"error": {"code": "invalid", "message": message, "fields": fields}}
