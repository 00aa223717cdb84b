"""The HCM (people) import: an HR system's CSV or XLSX export in, the directory brought in line.

    read_table(file_name, data)      bytes -> Table: the header and numbered rows
    plan_import(table)               Table -> ImportPlan: creates, updates, deactivations, errors
    do_import_people(file_name, ..)  permission check, plan, then one all-or-nothing write + audit

The file is keyed by employee id, so importing the same file twice changes
nothing the second time. Columns are found by their header (COLUMN_ALIASES;
docs/import.md documents the mapping). A column the file does not have is left
alone on existing people; an empty cell in a column it has clears the value.
"""

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import openpyxl
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from northstar.audit.services import Action, EventSpec, record_events, spec_for
from northstar.core.errors import Conflict
from northstar.core.permissions import require_role
from northstar.core.roles import Role
from northstar.directory.models import OrgUnit, Person, Subject

MAX_FILE_BYTES = 20 * 1024 * 1024
BATCH_SIZE = 500
IMPORT_ROLES = (Role.ADMIN, Role.HR)

# progress(stage, done, total): lets the CLI draw a bar without the importer knowing about terminals.
ProgressCallback = Callable[[str, int, int], None]


# -- reading the file ------------------------------------------------------------------------


class InvalidFile(Exception):
    """The file cannot be read as a table at all (not UTF-8, a damaged workbook, empty)."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.message, self.line = message, line


@dataclass
class Table:
    headers: list[str]
    header_line: int
    rows: list[tuple[int, list]]  # (line number in the file, cell values)


def read_table(file_name: str, data: bytes) -> Table:
    """A CSV (UTF-8, comma, semicolon or tab) or the first sheet of an XLSX workbook."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidFile(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    if not data.strip():
        raise InvalidFile("The file is empty.")
    name = file_name.lower()
    if name.endswith(".xls"):
        raise InvalidFile("Old .xls workbooks are not supported: save the sheet as .xlsx or CSV UTF-8.")
    # The content decides, not the name: browsers and HR systems mislabel files.
    if data[:4] == b"PK\x03\x04":
        return _table(_xlsx_rows(data))
    if name.endswith((".xlsx", ".xlsm")):
        raise InvalidFile("The file is named .xlsx but is not an Excel workbook.")
    return _table(_csv_rows(data))


def _table(numbered_rows: list[tuple[int, list]]) -> Table:
    # Blank rows (spacers, Excel's trailing formatted rows) carry nothing: skip them.
    rows = [(line, cells) for line, cells in numbered_rows if any(_text(c) for c in cells)]
    if not rows:
        raise InvalidFile("The file has no header row.")
    (header_line, headers), *data_rows = rows
    return Table([_text(h) for h in headers], header_line, data_rows)


def _csv_rows(data: bytes) -> list[tuple[int, list]]:
    try:
        text = data.decode("utf-8-sig")  # strips the BOM Excel writes in "CSV UTF-8"
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidFile(
            f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}): "
            "export it as 'CSV UTF-8'.",
            line=line,
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows, start = [], 1
    try:
        for cells in reader:
            # A quoted cell may span lines: report the line the record starts on.
            rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise InvalidFile(f"The CSV cannot be read on line {start}: {error}.", line=start) from None
    return rows


def _delimiter(text: str) -> str:
    """Comma, or semicolon (Excel in many European locales), or tab."""
    header = text.split("\n", 1)[0]
    sample = text[:65536].rsplit("\n", 1)[0] if len(text) > 65536 else text
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        sniffed = None
    # The sniffer guesses from the whole sample; the header line holds no quoted
    # commas in practice, so it settles a doubtful guess.
    if sniffed and sniffed in header:
        return sniffed
    return max(",;\t", key=header.count)


def _xlsx_rows(data: bytes) -> list[tuple[int, list]]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds of error on a damaged file
        raise InvalidFile(f"The file is not a readable XLSX workbook ({error}).") from None
    try:
        sheet = workbook.worksheets[0]
        # Some exporters record a wrong sheet size; this makes openpyxl read every row,
        # numbered from 1 as Excel shows them.
        sheet.reset_dimensions()
        return [
            (number, [_xlsx_value(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _xlsx_value(value):
    # Excel has no date type: a date cell arrives as a datetime at midnight. A time of day is kept.
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an employee id typed as a number in Excel: 1001.0 -> "1001"
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


# -- columns ---------------------------------------------------------------------------------

# Field -> accepted headers after normalise(), most specific first: when a file has
# two headers for one field (e.g. "Department Code" and "Department"), the first
# in this list is used and the other is listed as ignored.
COLUMN_ALIASES = {
    "employee_id": ("employee id", "employee number", "worker id", "person number", "emp id"),
    "name": ("name", "full name", "display name", "worker"),
    "first_name": ("first name", "given name"),
    "preferred_name": ("preferred name",),
    "last_name": ("last name", "family name", "surname"),
    "email": ("email", "work email", "email address", "business email", "e mail"),
    "job_title": ("job title", "title", "position", "business title"),
    "job_role": ("job role", "job profile", "job family", "job code"),
    "manager": ("manager id", "manager employee id", "supervisor id", "reports to", "line manager id"),
    "org_unit": ("org unit", "department code", "department", "team", "cost center", "cost centre"),
    "location": ("location", "work location", "office", "site"),
    "employment_status": ("status", "employment status", "worker status"),
    "hire_date": ("hire date", "start date", "original hire date"),
}
LABELS = {
    "employee_id": "employee id", "name": "name", "email": "email", "job_title": "job title",
    "job_role": "job role", "manager": "manager", "org_unit": "org unit", "location": "location",
    "employment_status": "status", "hire_date": "hire date",
}
STATUS_WORDS = {
    "active": Person.Status.ACTIVE,
    "on leave": Person.Status.ON_LEAVE,
    "leave": Person.Status.ON_LEAVE,
    "terminated": Person.Status.TERMINATED,
    "inactive": Person.Status.TERMINATED,
}


def normalise(header: str) -> str:
    """'Employee_ID', 'employee-id ', 'EMPLOYEE ID' -> 'employee id'."""
    return re.sub(r"[^a-z0-9]+", " ", header.lower()).strip()


@dataclass
class Columns:
    index: dict[str, int]  # field -> position of its column
    header: dict[str, str]  # field -> the header as written in the file
    ignored: list[str]

    def has(self, name: str) -> bool:
        return name in self.index

    def label(self, name: str) -> str:
        """The column(s) an error points at, as the user wrote them."""
        if name == "name" and "name" not in self.header:
            parts = ("preferred_name", "first_name", "last_name")
            return " + ".join(self.header[p] for p in parts if p in self.header)
        return self.header.get(name, LABELS.get(name, name))


@dataclass(frozen=True)
class LineError:
    line: int
    column: str
    message: str

    def __str__(self):
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


def map_columns(headers: list[str], line: int) -> tuple[Columns, list[LineError]]:
    normalised = [normalise(h) for h in headers]
    columns, errors = Columns({}, {}, []), []
    for name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            positions = [i for i, n in enumerate(normalised) if n == alias]
            if len(positions) > 1:
                errors.append(LineError(line, headers[positions[0]], (
                    f"{len(positions)} columns are headed '{headers[positions[0]]}'; keep one")))
            if positions:
                columns.index[name], columns.header[name] = positions[0], headers[positions[0]]
                break
    used = set(columns.index.values())
    columns.ignored = [h for i, h in enumerate(headers) if h and i not in used]
    return columns, errors


def missing_columns(columns: Columns, line: int) -> list[LineError]:
    missing = []
    if not columns.has("employee_id"):
        missing.append(("employee id", "Employee ID"))
    has_parts = columns.has("last_name") and (columns.has("first_name") or columns.has("preferred_name"))
    if not (columns.has("name") or has_parts):
        missing.append(("name", "Name, or First Name and Last Name"))
    if not columns.has("email"):
        missing.append(("email", "Email"))
    return [LineError(line, label, f"missing required column: {label} (e.g. '{example}')")
            for label, example in missing]


# -- checking rows ---------------------------------------------------------------------------


class BadValue(Exception):
    pass


class _OrgUnits:
    """Org units by key, else by a name that only one unit has."""

    def __init__(self):
        units = list(OrgUnit.objects.only("id", "key", "name", "is_active"))
        self.key_of = {u.pk: u.key for u in units}
        self.by_key = {u.key: u for u in units}
        self.by_folded_key, self.by_name = defaultdict(list), defaultdict(list)
        for unit in units:
            self.by_folded_key[unit.key.casefold()].append(unit)
            self.by_name[unit.name.casefold()].append(unit)

    def find(self, value: str) -> int | None:
        if not value:
            return None
        unit = self.by_key.get(value) or self._unique(value)
        if not unit.is_active:
            raise BadValue(f"org unit '{value}' is inactive")
        return unit.pk

    def _unique(self, value: str) -> OrgUnit:
        for matches in (self.by_folded_key.get(value.casefold()), self.by_name.get(value.casefold())):
            if matches and len(matches) == 1:
                return matches[0]
            if matches:
                keys = ", ".join(sorted(u.key for u in matches))
                raise BadValue(f"org unit '{value}' is ambiguous (keys {keys}); use the key")
        raise BadValue(f"unknown org unit '{value}' (no org unit has that key or name)")


def _max_length(name: str) -> int | None:
    return Person._meta.get_field(name).max_length


def _parse_text(name: str, value) -> str:
    text = _text(value)
    limit = _max_length(name)
    if limit and len(text) > limit:
        raise BadValue(f"{LABELS[name]} is too long ({len(text)} characters, at most {limit})")
    return text


def _parse_email(value) -> str:
    text = _parse_text("email", value)
    if not text:
        return text  # reported as "email is empty"
    try:
        validate_email(text)
    except ValidationError:
        raise BadValue(f"bad email '{text}'") from None
    return text


def _parse_status(value) -> str:
    text = _text(value)
    if not text:
        return Person.Status.ACTIVE
    status = STATUS_WORDS.get(normalise(text))  # "On Leave", "on_leave", "ON-LEAVE" alike
    if status is None:
        raise BadValue(f"bad status '{text}': use active, on leave or terminated")
    return status


def _parse_date(value) -> date | None:
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    # ISO only: 06/01/2020 is June in one country and January in the next. A time of
    # day after the date (some exports add one) is dropped.
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[ T][0-9:.]+)?", text)
    try:
        return date.fromisoformat(match.group(1))
    except (AttributeError, ValueError):  # no match, or no such day (2021-02-30)
        raise BadValue(f"bad hire date '{text}': use YYYY-MM-DD") from None


@dataclass
class _Row:
    line: int
    values: dict  # Person field -> value, only for columns the file has; org_unit is an id
    manager: str | None  # the manager's employee id; None when the file has no manager column


class _RowReader:
    def __init__(self, columns: Columns, units: _OrgUnits):
        self.columns, self.units = columns, units

    def cell(self, cells: list, name: str):
        position = self.columns.index.get(name)
        return cells[position] if position is not None and position < len(cells) else None

    def read(self, line: int, cells: list) -> tuple[_Row, list[LineError]]:
        values, errors = {}, []
        for name, parse in self._parsers():
            try:
                values[name] = parse(cells)
            except BadValue as error:
                errors.append(LineError(line, self.columns.label(name), str(error)))
        for name in ("employee_id", "name", "email"):
            if name in values and not values[name]:
                errors.append(LineError(line, self.columns.label(name), f"{LABELS[name]} is empty"))
        manager = values.pop("manager", None)
        return _Row(line, values, manager), errors

    def _parsers(self):
        """(field, parse(cells)) for every field the file has a column for."""
        has, cell = self.columns.has, self.cell
        yield "employee_id", lambda c: _parse_text("employee_id", cell(c, "employee_id"))
        yield "name", self._name
        yield "email", lambda c: _parse_email(cell(c, "email"))
        for name in ("job_title", "job_role", "location"):
            if has(name):
                yield name, lambda c, name=name: _parse_text(name, cell(c, name))
        if has("employment_status"):
            yield "employment_status", lambda c: _parse_status(cell(c, "employment_status"))
        if has("hire_date"):
            yield "hire_date", lambda c: _parse_date(cell(c, "hire_date"))
        if has("org_unit"):
            yield "org_unit", lambda c: self.units.find(_text(cell(c, "org_unit")))
        if has("manager"):
            yield "manager", lambda c: _parse_text("employee_id", cell(c, "manager"))

    def _name(self, cells) -> str:
        full = _text(self.cell(cells, "name"))
        if not full:
            given = _text(self.cell(cells, "preferred_name")) or _text(self.cell(cells, "first_name"))
            full = " ".join(part for part in (given, _text(self.cell(cells, "last_name"))) if part)
        return _parse_text("name", full)


# -- the plan --------------------------------------------------------------------------------


@dataclass
class PersonLine:
    """One person in the preview; `changes` is field -> (before, after) for updates."""

    employee_id: str
    name: str
    line: int | None = None
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class ImportPlan:
    rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the file
    ignored_columns: list[str] = field(default_factory=list)
    creates: list[PersonLine] = field(default_factory=list)
    updates: list[PersonLine] = field(default_factory=list)
    unchanged: int = 0
    deactivations: list[PersonLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    deactivate_missing: bool = True
    # What the commit needs, worked out once while planning.
    _new: list[_Row] = field(default_factory=list, repr=False)
    _changed: list[tuple[Person, _Row]] = field(default_factory=list, repr=False)
    _managed: list[_Row] = field(default_factory=list, repr=False)
    _leavers: list[Person] = field(default_factory=list, repr=False)
    _people: dict[str, Person] = field(default_factory=dict, repr=False)

    @property
    def counts(self) -> dict[str, int]:
        return {"create": len(self.creates), "update": len(self.updates), "unchanged": self.unchanged,
                "deactivate": len(self.deactivations)}

    @property
    def has_changes(self) -> bool:
        return bool(self.creates or self.updates or self.deactivations)


def plan_import(table: Table, *, deactivate_missing: bool = True,
                progress: ProgressCallback | None = None) -> ImportPlan:
    """Check every row and work out what the import would do; writes nothing.

    Reads the whole directory: deactivation and the manager graph are about
    everyone, not only the people in the file.
    """
    plan = ImportPlan(rows=len(table.rows), deactivate_missing=deactivate_missing)
    columns, plan.errors = map_columns(table.headers, table.header_line)
    plan.columns, plan.ignored_columns = dict(columns.header), columns.ignored
    missing = missing_columns(columns, table.header_line)
    if missing:  # without the key columns no row can be checked
        plan.errors += missing
        return plan
    units = _OrgUnits()
    rows, bad_lines = _read_rows(table, columns, units, plan, progress)
    listed = {row.values["employee_id"]: row.line for row in rows}
    plan._people = {p.employee_id: p for p in Person.objects.all()}
    # Managers are checked on rows with other errors too, so that one pass reports everything.
    _check_managers(rows, listed, columns, plan)
    _diff([row for row in rows if row.line not in bad_lines], listed, units, plan)
    plan.errors.sort(key=lambda e: e.line)
    return plan


def _read_rows(table, columns, units, plan, progress) -> tuple[list[_Row], set[int]]:
    """The first row of each employee id (errors or not), and the lines that have errors."""
    reader, first_line, rows, bad_lines = _RowReader(columns, units), {}, [], set()
    for done, (line, cells) in enumerate(table.rows, start=1):
        row, errors = reader.read(line, cells)
        employee_id = row.values.get("employee_id")
        if employee_id and employee_id in first_line:
            errors.append(LineError(line, columns.label("employee_id"), (
                f"duplicate employee id '{employee_id}': also on line {first_line[employee_id]}")))
        elif employee_id:
            first_line[employee_id] = line
            rows.append(row)
        if errors:
            plan.errors += errors
            bad_lines.add(line)
        if progress and (done % 1000 == 0 or done == len(table.rows)):
            progress("Checking rows", done, len(table.rows))
    return rows, bad_lines


def _check_managers(rows: list[_Row], listed: dict[str, int], columns: Columns, plan: ImportPlan) -> None:
    if not columns.has("manager"):
        return
    label = columns.label("manager")
    for row in rows:
        manager = row.manager
        if not manager or manager in listed:
            continue
        if manager not in plan._people:
            plan.errors.append(LineError(row.line, label, f"unknown manager '{manager}'"))
        elif plan.deactivate_missing:
            plan.errors.append(LineError(row.line, label, (
                f"manager '{manager}' is not in the file, so this import would deactivate them "
                "(for a partial file, untick 'Deactivate people not in the file' or use --no-deactivate)")))
    terminated = {row.values.get("employee_id") for row in rows
                  if row.values.get("employment_status") == Person.Status.TERMINATED}
    for row in rows:
        leaving = row.values.get("employment_status") == Person.Status.TERMINATED
        if row.manager in terminated and not leaving:
            plan.errors.append(LineError(row.line, label, (
                f"manager '{row.manager}' is terminated in this file; give this person another manager")))
    for cycle in _cycles(rows, plan._people):
        # Today's directory has no cycle, so every new one runs through a row of the file.
        line = min(listed[e] for e in cycle if e in listed)
        plan.errors.append(LineError(line, label, _cycle_message(cycle, listed)))


def _cycles(rows: list[_Row], people: dict[str, Person]) -> list[list[str]]:
    """Reporting loops in the manager graph as it would be after the import."""
    by_pk = {p.pk: p.employee_id for p in people.values()}
    graph = {e: by_pk.get(p.manager_id) for e, p in people.items()}  # today's graph...
    graph.update({r.values["employee_id"]: r.manager or None for r in rows})  # ...with the file's
    done, cycles = set(), []
    for row in rows:
        path, position, node = [], {}, row.values["employee_id"]
        while node is not None and node not in done:
            if node in position:
                cycles.append(path[position[node]:])
                break
            position[node] = len(path)
            path.append(node)
            node = graph.get(node)
        done.update(path)
    return cycles


def _cycle_message(cycle: list[str], in_file: dict[str, int]) -> str:
    if len(cycle) == 1:
        return f"manager cycle: '{cycle[0]}' is their own manager"
    named = [f"{e} (line {in_file[e]})" if e in in_file else e for e in cycle]
    return "manager cycle: " + " -> ".join([*named, cycle[0]])


def _diff(rows: list[_Row], listed: dict[str, int], units: _OrgUnits, plan: ImportPlan) -> None:
    employee_of = {p.pk: p.employee_id for p in plan._people.values()}
    for row in rows:
        person = plan._people.get(row.values["employee_id"])
        if row.manager is not None:  # None: the file has no manager column
            plan._managed.append(row)
        if person is None:
            plan._new.append(row)
            plan.creates.append(PersonLine(row.values["employee_id"], row.values["name"], row.line))
            continue
        changes = _changes(person, row, employee_of, units)
        if changes:
            plan._changed.append((person, row))
            plan.updates.append(PersonLine(person.employee_id, row.values["name"], row.line, changes))
        else:
            plan.unchanged += 1
    if plan.deactivate_missing:
        plan._leavers = [p for e, p in sorted(plan._people.items()) if e not in listed and p.is_active]
        plan.deactivations = [PersonLine(p.employee_id, p.name) for p in plan._leavers]


def _changes(person: Person, row: _Row, employee_of: dict, units: _OrgUnits) -> dict:
    """field -> (before, after), shown as a person would read them."""
    changes = {}
    for name, value in row.values.items():
        before = getattr(person, _attname(name))
        if before != value:
            show = (lambda v: units.key_of.get(v, "")) if name == "org_unit" else _text
            changes[name] = (show(before), show(value))
    if row.manager is not None:
        before = employee_of.get(person.manager_id, "")
        if before != row.manager:
            changes["manager"] = (before, row.manager)
    return changes


# -- applying it -----------------------------------------------------------------------------


@dataclass
class ImportResult:
    file_name: str
    plan: ImportPlan
    dry_run: bool
    applied: bool = False  # True when changes were written

    @property
    def errors(self) -> list[LineError]:
        return self.plan.errors

    @property
    def ok(self) -> bool:
        return not self.plan.errors


def do_import_people(file_name: str, data: bytes, *, acting_user, dry_run: bool = False,
                     deactivate_missing: bool = True,
                     progress: ProgressCallback | None = None) -> ImportResult:
    """Preview (dry_run) or apply an HCM people file; with any error, nothing is written."""
    require_role(acting_user, *IMPORT_ROLES, to="import people")
    try:
        table = read_table(file_name, data)
    except InvalidFile as error:
        return ImportResult(file_name, ImportPlan(errors=[LineError(error.line, "", error.message)]), dry_run)
    if dry_run:
        plan = plan_import(table, deactivate_missing=deactivate_missing, progress=progress)
        return ImportResult(file_name, plan, dry_run)
    try:
        # Plan inside the transaction so that what is checked is what is written.
        with transaction.atomic():
            plan = plan_import(table, deactivate_missing=deactivate_missing, progress=progress)
            result = ImportResult(file_name, plan, dry_run)
            if plan.errors or not plan.has_changes:
                return result
            _apply(plan, acting_user=acting_user, file_name=file_name,
                   digest=hashlib.sha256(data).hexdigest(), progress=progress)
    except IntegrityError as error:  # another writer added the same employee id meanwhile
        raise Conflict(f"The import clashes with a concurrent change; run it again. ({error})") from error
    result.applied = True
    return result


def _apply(plan: ImportPlan, *, acting_user, file_name: str, digest: str, progress) -> None:
    now = timezone.now()
    before = {p.employee_id: p.audit_snapshot() for p, _row in plan._changed}
    before.update({p.employee_id: p.audit_snapshot() for p in plan._leavers})
    step = _Steps(progress, total=5)
    created = _insert_people(plan._new)
    step()
    people = {**plan._people, **{p.employee_id: p for p in created}}
    dirty: dict[str, set[str]] = defaultdict(set)
    _set_values(plan, dirty)
    _set_managers(plan, people, dirty)
    for person in plan._leavers:
        person.employment_status = Person.Status.TERMINATED
        dirty[person.employee_id].add("employment_status")
    step()
    _set_paths(people, dirty)
    step()
    _save(people, dirty, now, created={p.employee_id for p in created})
    step()
    record_events(_events(plan, created, before, file_name, digest), acting_user=acting_user)
    step()


class _Steps:
    """Progress of the write, counted in steps (each one a few bulk statements)."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self) -> None:
        self.done += 1
        if self.progress:
            self.progress("Writing", self.done, self.total)


def _insert_people(rows: list[_Row]) -> list[Person]:
    """New people and their subjects; managers and paths follow once everyone has a key."""
    people = [Person(**_model_values(row.values)) for row in rows]
    Person.objects.bulk_create(people, batch_size=BATCH_SIZE)
    _fill_missing_pks(people)
    Subject.objects.bulk_create([Subject.for_target(p) for p in people], batch_size=BATCH_SIZE)
    return people


def _attname(name: str) -> str:
    return "org_unit_id" if name == "org_unit" else name  # the file's org unit is resolved to an id


def _model_values(values: dict) -> dict:
    return {_attname(name): value for name, value in values.items()}


def _fill_missing_pks(people: list[Person]) -> None:
    # PostgreSQL and SQLite >= 3.35 return the new keys from bulk_create; older SQLite does not.
    missing = [p for p in people if p.pk is None]
    if missing:
        pks = dict(Person.objects.filter(employee_id__in=[p.employee_id for p in missing])
                   .values_list("employee_id", "pk"))
        for person in missing:
            person.pk = pks[person.employee_id]


def _set_values(plan: ImportPlan, dirty) -> None:
    for person, row in plan._changed:
        for name, value in row.values.items():
            if getattr(person, _attname(name)) != value:
                setattr(person, _attname(name), value)
                dirty[person.employee_id].add(name)


def _set_managers(plan: ImportPlan, people: dict[str, Person], dirty) -> None:
    for row in plan._managed:
        person = people[row.values["employee_id"]]
        manager_id = people[row.manager].pk if row.manager else None
        if person.manager_id != manager_id:
            person.manager_id = manager_id
            dirty[person.employee_id].add("manager")


def _set_paths(people: dict[str, Person], dirty) -> None:
    """Recompute every materialized path from the final manager graph.

    All people are in memory already (deactivation needs them), so computing
    every path here and writing only those that changed is cheaper than one
    subtree query per moved person, and it covers everyone below a moved manager.
    """
    by_pk = {p.pk: p for p in people.values()}
    paths: dict[int, str] = {}
    for person in by_pk.values():
        chain, node = [], person
        while node is not None and node.pk not in paths:
            chain.append(node)
            if len(chain) > len(by_pk):
                raise RuntimeError(f"reporting cycle through {person.employee_id}")  # checked in the plan
            node = by_pk.get(node.manager_id)
        prefix = paths[node.pk] if node is not None else "/"
        for member in reversed(chain):
            prefix = paths[member.pk] = f"{prefix}{member.pk}/"
    for person in by_pk.values():
        if person.manager_path != paths[person.pk]:
            person.manager_path = paths[person.pk]
            dirty[person.employee_id].add("manager_path")


def _save(people: dict[str, Person], dirty: dict[str, set[str]], now, created: set[str]) -> None:
    """bulk_update, grouped by the set of changed fields so each UPDATE writes only those.

    Django builds a CASE expression per field and row, which is most of the cost
    of an import: write as few fields as possible.
    """
    groups: dict[frozenset, list[Person]] = defaultdict(list)
    for employee_id, names in dirty.items():
        person = people[employee_id]
        # A manager_path change is derived, not an edit; new rows were stamped on insert.
        if names - {"manager_path"} and employee_id not in created:
            person.updated = now  # bulk_update does not apply auto_now
            names = names | {"updated"}
        groups[frozenset(names)].append(person)
    for names, group in groups.items():
        Person.objects.bulk_update(group, sorted(names), batch_size=BATCH_SIZE)


def _events(plan, created, before, file_name, digest) -> list[EventSpec]:
    specs = [spec_for(Action.CREATE, p, after=p.audit_snapshot()) for p in created]
    for person, _row in plan._changed:
        specs.append(spec_for(Action.UPDATE, person, before=before[person.employee_id],
                              after=person.audit_snapshot()))
    for person in plan._leavers:
        specs.append(spec_for(Action.DEACTIVATE, person, before=before[person.employee_id],
                              after=person.audit_snapshot()))
    summary = {"file": file_name, "sha256": digest, "rows": plan.rows, "created": len(created),
               "updated": len(plan._changed), "deactivated": len(plan._leavers),
               "unchanged": plan.unchanged, "deactivate_missing": plan.deactivate_missing}
    specs.append(EventSpec(action=Action.IMPORT, object_type="directory.person",
                           object_repr=f"people import: {file_name}", after=summary))
    return specs
