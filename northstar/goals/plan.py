"""Plan as code: a YAML file (`apiVersion: northstar/v1`) that declares periods, subjects,
measures with their targets, objectives and their key results (docs/plan-as-code.md).

    plan_file(text, file_name, acting_user=...)                 -> PlanResult: the diff, or the errors
    do_apply_plan(text, file_name, acting_user=..., dry_run=..)  -> PlanResult: the diff, applied

Keys are the identity: applying creates what is missing, updates the fields the
file gives that differ, and leaves everything else alone (nothing is ever deleted).
A field the file leaves out keeps its value on an existing object; `null` clears
an optional one. The same file applied twice changes nothing, not even the audit
trail.

Everything is checked before anything is written, and every error names the line
of the file. The changes are then written in one transaction through the same
services as the UI and the API, so every write is permission-checked and audited;
if one of them refuses, everything is rolled back and the error names the line of
the object that caused it. A dry run goes through the same writes and rolls them
back, so it finds what the real run would find.
"""

import difflib
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction

from northstar.audit.services import Action, record_event
from northstar.core.errors import Conflict, validation_fields
from northstar.directory import services as directory
from northstar.directory.models import OrgUnit, Person, Process, Service, Subject
from northstar.goals import services as goals
from northstar.goals.models import KeyResult, Objective, Period, Perspective
from northstar.measures import services as measures
from northstar.measures.models import Measure, Target

API_VERSION = "northstar/v1"
MAX_PLAN_BYTES = 2 * 1024 * 1024
SECTIONS = ("apiVersion", "periods", "subjects", "measures", "objectives")

LABELS = {
    "period": "period", "org_unit": "org unit", "service": "service", "process": "process", "person": "person",
    "measure": "measure", "target": "target", "objective": "objective", "key_result": "key result",
    "perspective": "perspective",
}
# How a subject's kind is spelled in the file: {orgUnit: platform}, {person: E004}, ...
SUBJECT_KINDS = {"orgUnit": "org_unit", "person": "person", "service": "service", "process": "process"}
FILE_SUBJECT_KIND = {Subject.Kind.ORG_UNIT: "orgUnit", Subject.Kind.PERSON: "person",
                     Subject.Kind.SERVICE: "service", Subject.Kind.PROCESS: "process"}
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- results ---------------------------------------------------------------------------------


@dataclass
class PlanError:
    file_name: str
    line: int
    message: str
    code: str = "invalid"  # invalid | forbidden | conflict

    def __str__(self):
        return f"{self.file_name}:{self.line}: {self.message}"


@dataclass
class FieldChange:
    field: str  # as the file spells it: "weight", "onTrack", "manual.target"
    before: object  # plain JSON values; references by key
    after: object


@dataclass
class Change:
    action: str  # create | update | unchanged | keep (in the database for the same subjects, not in the file)
    kind: str  # period, org_unit, service, process, measure, target, objective, key_result
    key: str
    line: int | None
    changes: list[FieldChange] = field(default_factory=list)
    apply: Callable[["_Context"], None] | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{LABELS[self.kind]} {self.key}"


@dataclass
class PlanResult:
    file_name: str
    changes: list[Change] = field(default_factory=list)  # creates and updates, in the order they are written
    errors: list[PlanError] = field(default_factory=list)
    unchanged: list[Change] = field(default_factory=list)
    kept: list[Change] = field(default_factory=list)
    dry_run: bool = True
    applied: bool = False  # True when the changes were written

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        return {
            "create": sum(c.action == "create" for c in self.changes),
            "update": sum(c.action == "update" for c in self.changes),
            "unchanged": len(self.unchanged),
            "keep": len(self.kept),
        }


# -- reading YAML with line numbers ----------------------------------------------------------


class YamlMap(dict):
    """A YAML mapping that remembers its line and the line of each of its keys (1-based)."""

    def __init__(self, line: int):
        super().__init__()
        self.line = line
        self.lines: dict = {}
        self.repeated: list[tuple[object, int]] = []  # keys given twice, with the line of the repeat

    def line_of(self, key) -> int:
        return self.lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    """The safe loader, keeping line numbers; dates stay text so that the plan checks them itself."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)  # merge keys (<<: *anchor)
    mapping = YamlMap(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool | None):
            raise yaml.constructor.ConstructorError(None, None, "a key must be plain text", key_node.start_mark)
        line = key_node.start_mark.line + 1
        if key in mapping:
            mapping.repeated.append((key, line))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _decode(data: str | bytes, file_name: str) -> tuple[str, PlanError | None]:
    if isinstance(data, str):
        return data, None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return "", PlanError(file_name, line, f"the file is not UTF-8 text (byte 0x{data[error.start]:02x})")


def load_documents(text: str, file_name: str) -> tuple[list[tuple[int, object]], list[PlanError]]:
    """Every YAML document in the text with the line it starts on; a syntax error names its line."""
    documents, loader = [], None
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            documents.append((node.start_mark.line + 1, loader.construct_document(node)))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "the file cannot be read"
        if error.context and error.problem:
            problem = f"{error.problem} ({error.context})"
        return [], [PlanError(file_name, mark.line + 1 if mark else 1, f"invalid YAML: {problem}")]
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        return [], [PlanError(file_name, line, f"invalid YAML: {error.reason} (character #x{error.character:04x})")]
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        return [], [PlanError(file_name, 1, f"invalid YAML: {error}")]
    finally:
        if loader is not None:
            loader.dispose()
    return documents, []


# -- field parsers ---------------------------------------------------------------------------


class _Bad(Exception):
    """A value that does not fit its field; the message continues "'field' ..."."""


@dataclass(frozen=True)
class Ref:
    """A reference by key to something in the file or in the database."""

    kind: str  # period, org_unit, service, process, person, measure, objective, perspective
    key: str
    subject: bool = False  # the subject of that object (for `subject: {orgUnit: platform}`)

    def __str__(self):
        if self.subject:
            kind = next(name for name, kind in SUBJECT_KINDS.items() if kind == self.kind)
            return f"{kind}:{self.key}"
        return self.key


def _show(value) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return str(value)


def _text(max_length: int | None):
    def parse(value):
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Bad(f"must be text, not {_show(value)}")
        text = str(value).strip()
        if max_length is not None and len(text) > max_length:
            raise _Bad(f"is longer than {max_length} characters")
        return text
    return parse


def _key(max_length: int):
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _Bad(f"must be a key (letters, digits, '-' and '_'), not {_show(value)}")
        text = str(value).strip()
        if not _SLUG.match(text):
            raise _Bad(f"must be a key (letters, digits, '-' and '_'), not {_show(value)}")
        if len(text) > max_length:
            raise _Bad(f"is longer than {max_length} characters")
        return text
    return parse


def _choice(choices: Iterable, nullable_as=None):
    choices = list(choices)

    def parse(value):
        if value is None and nullable_as is not None:
            return nullable_as
        if value not in choices or isinstance(value, bool):
            raise _Bad(f"must be one of {', '.join(map(str, choices))}, not {_show(value)}")
        return value
    return parse


def _number(minimum: float | None = None, nullable: bool = False):
    def parse(value):
        if value is None and nullable:
            return None
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise _Bad(f"must be a number, not {_show(value)}")
        if not math.isfinite(number):
            raise _Bad(f"must be a finite number, not {_show(value)}")
        if minimum is not None and number < minimum:
            raise _Bad(f"must be at least {minimum:g}, not {_show(value)}")
        return number
    return parse


def _boolean(value):
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, not {_show(value)}")
    return value


def _date(value):
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Bad(f"must be a date (YYYY-MM-DD), not {_show(value)}")


def _ref(kind: str, nullable: bool = False):
    def parse(value):
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise _Bad(f"must be the key of a {LABELS[kind]}, not {_show(value)}")
        return Ref(kind, str(value).strip())
    return parse


def _subject(value):
    forms = ", ".join(f"{{{name}: {'EMPLOYEE_ID' if name == 'person' else 'KEY'}}}" for name in SUBJECT_KINDS)
    if not isinstance(value, dict) or len(value) != 1:
        raise _Bad(f"must be one of {forms}, not {_show(value)}")
    (name, key), = value.items()
    if name not in SUBJECT_KINDS:
        raise _Bad(f"must be one of {forms}, not {{{name}: ...}}")
    if isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip():
        raise _Bad(f"must name a {LABELS[SUBJECT_KINDS[name]]} by key, not {_show(key)}")
    return Ref(SUBJECT_KINDS[name], str(key).strip(), subject=True)


@dataclass(frozen=True)
class _Field:
    name: str  # as in the file
    attr: str  # the model field (or service argument) it sets
    parse: Callable
    required: bool = False
    what: str = ""  # for references: how an unknown one is called ("parent objective")


def _max(model, attr: str) -> int | None:
    return model._meta.get_field(attr).max_length


def _key_field(model):
    return _Field("key", "key", _key(_max(model, "key")), required=True)


PERIOD_FIELDS = [
    _key_field(Period),
    _Field("name", "name", _text(_max(Period, "name")), required=True),
    _Field("kind", "kind", _choice(Period.Kind.values)),
    _Field("start", "start", _date, required=True),
    _Field("end", "end", _date, required=True),
]
SUBJECT_FIELDS = {
    "orgUnit": [
        _key_field(OrgUnit),
        _Field("name", "name", _text(_max(OrgUnit, "name")), required=True),
        _Field("unitKind", "kind", _choice(OrgUnit.Kind.values)),
        _Field("parent", "parent", _ref("org_unit", nullable=True), what="parent org unit"),
        _Field("manager", "manager", _ref("person", nullable=True), what="manager"),
    ],
    "service": [
        _key_field(Service),
        _Field("name", "name", _text(_max(Service, "name")), required=True),
        _Field("ownerTeam", "owner_team", _ref("org_unit"), required=True, what="owner team"),
        _Field("tier", "tier", _choice(Service.Tier.values)),
        _Field("description", "description", _text(None)),
    ],
    "process": [
        _key_field(Process),
        _Field("name", "name", _text(_max(Process, "name")), required=True),
        _Field("ownerTeam", "owner_team", _ref("org_unit"), required=True, what="owner team"),
        _Field("description", "description", _text(None)),
    ],
}
MEASURE_FIELDS = [
    _key_field(Measure),
    _Field("name", "name", _text(_max(Measure, "name")), required=True),
    _Field("description", "description", _text(None)),
    _Field("subject", "subject", _subject, required=True, what="subject"),
    _Field("unit", "unit", _text(_max(Measure, "unit"))),
    _Field("polarity", "polarity", _choice(Measure.Polarity.values)),
    _Field("aggregation", "aggregation", _choice(Measure.Aggregation.values)),
    _Field("tracking", "tracking", _choice(Measure.Tracking.values, nullable_as="")),
    _Field("metricSelector", "metric_selector", _text(_max(Measure, "metric_selector"))),
]
TARGET_FIELDS = [
    _Field("period", "period", _ref("period"), required=True, what="period"),
    _Field("target", "target", _number(nullable=True)),
    _Field("baseline", "baseline", _number(nullable=True)),
    _Field("lower", "lower", _number(nullable=True)),
    _Field("upper", "upper", _number(nullable=True)),
    _Field("tolerance", "tolerance", _number(nullable=True)),
    _Field("onTrack", "on_track", _number()),
    _Field("atRisk", "at_risk", _number()),
    _Field("cap", "cap", _number()),
]
OBJECTIVE_FIELDS = [
    _key_field(Objective),
    _Field("title", "title", _text(_max(Objective, "title")), required=True),
    _Field("description", "description", _text(None)),
    _Field("subject", "subject", _subject, required=True, what="subject"),
    _Field("period", "period", _ref("period"), required=True, what="period"),
    _Field("perspective", "perspective", _ref("perspective", nullable=True), what="perspective"),
    _Field("parent", "parent", _ref("objective", nullable=True), what="parent objective"),
    _Field("rollsUp", "rolls_up", _boolean),
    _Field("weight", "weight", _number(minimum=0)),
    _Field("owner", "owner", _ref("person", nullable=True), what="owner"),
    _Field("statusRule", "status_rule", _choice(Objective.StatusRule.values)),
    _Field("onTrack", "on_track", _number(minimum=0)),
    _Field("atRisk", "at_risk", _number(minimum=0)),
]
KEY_RESULT_FIELDS = [
    _key_field(KeyResult),
    _Field("title", "title", _text(_max(KeyResult, "title")), required=True),
    _Field("measure", "measure", _ref("measure"), what="measure"),
    _Field("weight", "weight", _number(minimum=0)),
]
MANUAL_FIELDS = [
    _Field("start", "start", _number()),
    _Field("target", "target", _number()),
    _Field("unit", "unit", _text(_max(Measure, "unit"))),
]
FIELDS = {
    "period": PERIOD_FIELDS, "org_unit": SUBJECT_FIELDS["orgUnit"], "service": SUBJECT_FIELDS["service"],
    "process": SUBJECT_FIELDS["process"], "measure": MEASURE_FIELDS, "target": TARGET_FIELDS,
    "objective": OBJECTIVE_FIELDS, "key_result": KEY_RESULT_FIELDS,
}


# -- what the file declares ------------------------------------------------------------------


@dataclass
class _Spec:
    """One object the file declares: the values it gives (model field -> value, references
    unresolved) and where each one is."""

    kind: str
    key: str
    line: int
    values: dict = field(default_factory=dict)
    lines: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)  # model field -> the file's name for it
    owner: "_Spec | None" = None  # the measure of a target, the objective of a key result
    manual: "_Spec | None" = None  # a one-off key result's {start, target, unit}
    year: int | None = None  # a period from the `fiscalYear` shorthand
    order: int = 0

    @property
    def label(self) -> str:
        if self.kind == "target":
            return f"measure '{self.owner.key}': target for '{self.key.split('@', 1)[1]}'"
        return f"{LABELS[self.kind]} '{self.key}'"

    def line_of(self, attr: str) -> int:
        return self.lines.get(attr, self.line)

    def name_of(self, attr: str) -> str:
        return self.names.get(attr, attr)


class _Reader:
    """Turns the YAML documents into specs, with an error (and its line) for every problem."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self.errors: list[PlanError] = []
        self.specs: dict[str, list[_Spec]] = defaultdict(list)

    def error(self, line: int, message: str) -> None:
        self.errors.append(PlanError(self.file_name, line, message))

    def read(self, documents: list[tuple[int, object]]) -> None:
        if not any(document is not None for _line, document in documents):
            self.error(1, f"the file declares nothing: start it with 'apiVersion: {API_VERSION}'")
        for line, document in documents:
            if document is None:
                continue
            if not isinstance(document, YamlMap):
                self.error(line, f"a plan document is a mapping starting with 'apiVersion: {API_VERSION}', "
                                 f"not {_show(document)}")
                continue
            self._document(document)

    def _document(self, doc: YamlMap) -> None:
        self._unknown(doc, SECTIONS, "the plan")
        if "apiVersion" not in doc:
            self.error(doc.line, f"'apiVersion: {API_VERSION}' is required at the top of each document")
        elif doc["apiVersion"] != API_VERSION:
            self.error(doc.line_of("apiVersion"), f"unsupported apiVersion {_show(doc['apiVersion'])}: "
                                                  f"this version of Northstar reads {API_VERSION}")
            return
        for section, read in (("periods", self._period), ("subjects", self._subject),
                              ("measures", self._measure), ("objectives", self._objective)):
            for item in self._items(doc, section, section):
                read(item)

    def _items(self, node: YamlMap, name: str, where: str) -> list[YamlMap]:
        if name not in node or node[name] is None:
            return []
        value = node[name]
        if not isinstance(value, list):
            self.error(node.line_of(name), f"{where}: '{name}' must be a list (items starting with '-'), "
                                           f"not {_show(value)}")
            return []
        items = []
        for item in value:
            if isinstance(item, YamlMap):
                items.append(item)
            else:
                self.error(node.line_of(name), f"{where}: each item of '{name}' must be a mapping "
                                               f"(field: value), not {_show(item)}")
        return items

    def _unknown(self, node: YamlMap, names: Iterable[str], label: str) -> None:
        names = list(names)
        for name in node:
            if name not in names:
                close = difflib.get_close_matches(str(name), names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"
                self.error(node.line_of(name), f"{label}: unknown field '{name}'{hint}")
        for name, line in node.repeated:
            self.error(line, f"{label}: '{name}' is given twice")

    @staticmethod
    def _label(kind: str, node: YamlMap) -> str:
        key = node.get("key")
        if isinstance(key, str | int) and not isinstance(key, bool) and str(key).strip():
            return f"{LABELS[kind]} '{str(key).strip()}'"
        return f"{LABELS[kind]} on line {node.line}"

    def _fields(self, node: YamlMap, fields: list[_Field], spec: _Spec, label: str, extra=()) -> bool:
        """Read `fields` into `spec`; False when something is missing or wrong."""
        self._unknown(node, [f.name for f in fields] + list(extra), label)
        ok = True
        for f in fields:
            if f.name not in node:
                if f.required:
                    self.error(node.line, f"{label}: '{f.name}' is required")
                    ok = False
                continue
            line = node.line_of(f.name)
            try:
                value = f.parse(node[f.name])
            except _Bad as bad:
                self.error(line, f"{label}: '{f.name}' {bad}")
                ok = False
                continue
            if f.required and value in (None, ""):
                self.error(line, f"{label}: '{f.name}' must not be empty")
                ok = False
                continue
            spec.values[f.attr] = value
            spec.lines[f.attr] = line
            spec.names[f.attr] = f.name
        return ok

    def _new(self, kind: str, node: YamlMap, fields, label: str, extra=(), **more) -> _Spec | None:
        """The spec, even with errors in its fields (so that what refers to it is not reported
        again); None when it has no usable key."""
        spec = _Spec(kind, "", node.line, **more)
        self._fields(node, fields, spec, label, extra)
        if "key" not in spec.values:
            return None
        spec.key = spec.values["key"]
        return spec

    def _period(self, node: YamlMap) -> None:
        if "fiscalYear" in node:
            self._fiscal_year(node)
            return
        label = self._label("period", node)
        spec = self._new("period", node, PERIOD_FIELDS, label, extra=("fiscalYear",))
        if spec is None:
            return
        start, end = spec.values.get("start"), spec.values.get("end")
        if start is not None and end is not None and end <= start:
            self.error(spec.line_of("end"), f"{label}: 'end' ({end}) must be after 'start' ({start}); "
                                            "it is the first day after the period")
        self.specs["period"].append(spec)

    def _fiscal_year(self, node: YamlMap) -> None:
        line = node.line_of("fiscalYear")
        self._unknown(node, ["fiscalYear"], f"fiscal year on line {node.line}")
        year = node["fiscalYear"]
        if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2999:
            self.error(line, f"'fiscalYear' must be a year such as 2027, not {_show(year)}")
            return
        for key, name, kind, start, end in goals.fiscal_year_periods(year):
            spec = _Spec("period", key, line, year=year)
            spec.values = {"key": key, "name": name, "kind": kind, "start": start, "end": end}
            spec.names = dict.fromkeys(spec.values, "fiscalYear")
            self.specs["period"].append(spec)

    def _subject(self, node: YamlMap) -> None:
        kind = node.get("kind")
        if "kind" not in node:
            self.error(node.line, f"subject: 'kind' is required (one of {', '.join(SUBJECT_FIELDS)})")
            return
        if kind == "person":
            self.error(node.line_of("kind"), "subject: people are not declared in a plan; they come from the "
                                             "HR import (docs/import.md): refer to them as {person: EMPLOYEE_ID}")
            return
        if not isinstance(kind, str) or kind not in SUBJECT_FIELDS:
            self.error(node.line_of("kind"), f"subject: 'kind' must be one of {', '.join(SUBJECT_FIELDS)}, "
                                             f"not {_show(kind)}")
            return
        spec_kind = SUBJECT_KINDS[kind]
        spec = self._new(spec_kind, node, SUBJECT_FIELDS[kind], self._label(spec_kind, node), extra=("kind",))
        if spec is not None:
            self.specs[spec_kind].append(spec)

    def _measure(self, node: YamlMap) -> None:
        label = self._label("measure", node)
        spec = self._new("measure", node, MEASURE_FIELDS, label, extra=("targets",))
        if spec is None:
            return
        self.specs["measure"].append(spec)
        for item in self._items(node, "targets", label):
            target = _Spec("target", "", item.line, owner=spec)
            period = item.get("period")
            known = isinstance(period, str | int) and not isinstance(period, bool)
            where = f"{label}: target for '{period}'" if known else f"{label}: target on line {item.line}"
            self._fields(item, TARGET_FIELDS, target, where)
            if "period" in target.values:
                target.key = f"{spec.key}@{target.values['period'].key}"
                self.specs["target"].append(target)

    def _objective(self, node: YamlMap) -> None:
        label = self._label("objective", node)
        spec = self._new("objective", node, OBJECTIVE_FIELDS, label, extra=("keyResults",))
        if spec is None:
            return
        on_track, at_risk = spec.values.get("on_track"), spec.values.get("at_risk")
        if on_track is not None and at_risk is not None and at_risk > on_track:
            self.error(spec.line_of("at_risk"), f"{label}: 'atRisk' ({at_risk:g}) is above 'onTrack' "
                                                f"({on_track:g})")
        self.specs["objective"].append(spec)
        for order, item in enumerate(self._items(node, "keyResults", label)):
            self._key_result(item, spec, order)

    def _key_result(self, node: YamlMap, objective: _Spec, order: int) -> None:
        label = self._label("key_result", node)
        spec = self._new("key_result", node, KEY_RESULT_FIELDS, label, extra=("manual",), owner=objective,
                         order=order)
        if spec is None:
            return
        has_measure, manual = "measure" in spec.values, node.get("manual")
        if has_measure == ("manual" in node):
            self.error(node.line, f"{label}: give either 'measure' (the key of a measure) or 'manual' "
                                  "({start, target, unit}, for a one-off key result), not "
                                  f"{'both' if has_measure else 'neither'}")
            return
        if "manual" in node:
            if manual is None:
                manual = YamlMap(node.line_of("manual"))
            if not isinstance(manual, YamlMap):
                self.error(node.line_of("manual"), f"{label}: 'manual' must be a mapping such as "
                                                   f"{{start: 0, target: 100, unit: '%'}}, not {_show(manual)}")
                return
            spec.manual = _Spec("manual", spec.key, manual.line)
            if not self._fields(manual, MANUAL_FIELDS, spec.manual, f"{label}: manual"):
                return
        self.specs["key_result"].append(spec)


# -- what the database holds -----------------------------------------------------------------

_SUBJECT_JOINS = ("subject__org_unit", "subject__person", "subject__service", "subject__process")
_MODELS = {
    "period": (Period, "key", ()),
    "org_unit": (OrgUnit, "key", ("parent", "manager", "subject")),
    "service": (Service, "key", ("owner_team", "subject")),
    "process": (Process, "key", ("owner_team", "subject")),
    "person": (Person, "employee_id", ("subject",)),
    "measure": (Measure, "key", _SUBJECT_JOINS),
    "objective": (Objective, "key", ("period", "perspective", "parent", "owner", *_SUBJECT_JOINS)),
    "perspective": (Perspective, "key", ()),
    "key_result": (KeyResult, "key", ("objective__period", "measure")),
}
ORDER = ("period", "org_unit", "service", "process", "measure", "target", "objective", "key_result")


def key_of(obj) -> str | None:
    """How the file names an object: by key, a person by employee id, a subject as kind:key."""
    if obj is None:
        return None
    if isinstance(obj, Subject):
        return f"{FILE_SUBJECT_KIND[obj.kind]}:{key_of(obj.target)}"
    if isinstance(obj, Person):
        return obj.employee_id
    return obj.key


def _plain(value):
    """A value for the diff: JSON, references by key, whole numbers without '.0'."""
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, models.Model):
        return key_of(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _same(a, b) -> bool:
    a, b = _plain(a), _plain(b)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


class _Context:
    """The objects a write needs, by kind and key: loaded from the database, or just created."""

    def __init__(self, acting_user, db: dict[str, dict[str, object]]):
        self.user = acting_user
        self.objects = defaultdict(dict, {kind: dict(objects) for kind, objects in db.items()})
        self.fiscal_years: set[int] = set()

    def get(self, ref: Ref):
        obj = self.objects[ref.kind][ref.key]
        return obj.subject if ref.subject else obj

    def put(self, kind: str, obj) -> None:
        self.objects[kind][key_of(obj)] = obj

    def resolve(self, values: dict) -> dict:
        return {name: self.get(v) if isinstance(v, Ref) else v for name, v in values.items()}


# -- planning --------------------------------------------------------------------------------


class _Planner:
    def __init__(self, file_name: str, acting_user, specs: dict[str, list[_Spec]], errors: list[PlanError]):
        self.file_name, self.user = file_name, acting_user
        self.specs, self.errors = specs, errors
        self.declared: dict[str, dict[str, _Spec]] = defaultdict(dict)
        self.db: dict[str, dict[str, object]] = defaultdict(dict)
        self.targets: dict[tuple[str, str], Target] = {}  # (measure key, period key) -> target

    def error(self, line: int, message: str, code: str = "invalid") -> None:
        self.errors.append(PlanError(self.file_name, line, message, code))

    # -- checks

    def check(self) -> None:
        self._duplicates()
        self._load()
        self._references()
        self._cycles("objective", "objective parents make a cycle")
        self._cycles("org_unit", "org unit parents make a cycle")
        self._check_targets()
        self._check_key_results()

    def _duplicates(self) -> None:
        for kind in ORDER:
            for spec in self.specs[kind]:
                first = self.declared[kind].get(spec.key)
                if first is None:
                    self.declared[kind][spec.key] = spec
                elif first.year is not None and spec.year == first.year:
                    continue  # the same fiscal year twice: reported once below
                else:
                    what = f"{LABELS[kind]} '{spec.key}'" if kind != "target" else spec.label
                    self.error(spec.line, f"duplicate {what}: already declared on line {first.line}")
        years = defaultdict(set)
        for spec in self.specs["period"]:
            if spec.year is not None:
                years[spec.year].add(spec.line)
        for year, lines in years.items():
            for line in sorted(lines)[1:]:
                self.error(line, f"duplicate fiscal year {year}: already declared on line {min(lines)}")

    def _load(self) -> None:
        wanted: dict[str, set[str]] = defaultdict(set)
        for kind in ORDER:
            for spec in self.specs[kind]:
                if kind in _MODELS:
                    wanted[kind].add(spec.key)
                for value in spec.values.values():
                    if isinstance(value, Ref):
                        wanted[value.kind].add(value.key)
        for kind, keys in wanted.items():
            model, key_field, joins = _MODELS[kind]
            rows = model.objects.restrict(self.user, "view").filter(**{f"{key_field}__in": keys})
            self.db[kind] = {getattr(obj, key_field): obj for obj in rows.select_related(*joins)}
        pairs = [(t.owner.key, t.values["period"].key) for t in self.specs["target"]]
        manual = [kr.measure_id for kr in self.db["key_result"].values() if kr.measure.is_manual]
        if pairs or manual:
            rows = Target.objects.restrict(self.user, "view").select_related("measure", "period").filter(
                models.Q(measure__key__in={m for m, _p in pairs}, period__key__in={p for _m, p in pairs})
                | models.Q(measure_id__in=manual))
            self.targets = {(t.measure.key, t.period.key): t for t in rows}

    def _exists(self, ref: Ref) -> bool:
        return ref.key in self.declared[ref.kind] or ref.key in self.db[ref.kind]

    def _references(self) -> None:
        for kind in ORDER:
            fields = {f.attr: f for f in FIELDS[kind]}
            for spec in self.specs[kind]:
                for attr, value in spec.values.items():
                    if not isinstance(value, Ref) or self._exists(value):
                        continue
                    f = fields[attr]
                    what = f"subject {LABELS[value.kind]}" if value.subject else f.what
                    message = f"{spec.label}: unknown {what} '{value.key}'"
                    if value.kind == "person":
                        message += " (no person with this employee id)"
                    if value.kind == "perspective":
                        known = Perspective.objects.order_by("order", "key").values_list("key", flat=True)
                        message += f" (known: {', '.join(known)})"
                    self.error(spec.line_of(attr), message)

    def _parent_key(self, kind: str, key: str) -> str | None:
        spec = self.declared[kind].get(key)
        if spec is not None and "parent" in spec.values:
            parent = spec.values["parent"]
            return parent.key if parent is not None else None
        obj = self.db[kind].get(key)
        if obj is None and spec is None:
            model = _MODELS[kind][0]
            obj = model.objects.restrict(self.user, "view").select_related("parent").filter(key=key).first()
            if obj is not None:
                self.db[kind][key] = obj
        return obj.parent.key if obj is not None and obj.parent_id else None

    def _cycles(self, kind: str, message: str) -> None:
        reported = set()
        for spec in self.specs[kind]:
            if "parent" not in spec.values:
                continue
            path, key = [spec.key], self._parent_key(kind, spec.key)
            while key is not None and key not in path and len(path) < 10_000:
                path.append(key)
                key = self._parent_key(kind, key)
            if key == spec.key and frozenset(path) not in reported:
                reported.add(frozenset(path))
                self.error(spec.line_of("parent"), f"{message}: {' -> '.join([*path, key])}")

    def _polarity(self, measure_key: str) -> str:
        spec = self.declared["measure"].get(measure_key)
        if spec is not None and "polarity" in spec.values:
            return spec.values["polarity"]
        existing = self.db["measure"].get(measure_key)
        return existing.polarity if existing is not None else Measure.Polarity.INCREASE

    def _check_targets(self) -> None:
        names = {f.attr: f.name for f in TARGET_FIELDS}
        for spec in self.specs["target"]:
            existing = self.targets.get((spec.owner.key, spec.values["period"].key))
            merged = {name: getattr(existing, name) for name in measures.TARGET_FIELDS} if existing else {}
            merged.update({k: v for k, v in spec.values.items() if k != "period"})
            try:
                measures.check_target(Measure(polarity=self._polarity(spec.owner.key)),
                                      {k: v for k, v in merged.items() if v is not None})
            except ValidationError as error:
                for attr, messages in validation_fields(error).items():
                    self.error(spec.line_of(attr), f"{spec.label}: {names.get(attr, attr)}: {' '.join(messages)}")
        for spec in self.specs["measure"]:
            selector = spec.values.get("metric_selector")
            if selector:
                try:
                    measures.check_selector(selector)
                except ValidationError as error:
                    messages = [m for ms in validation_fields(error).values() for m in ms]
                    self.error(spec.line_of("metric_selector"), f"{spec.label}: 'metricSelector' "
                                                                f"{' '.join(messages)}")

    def _check_key_results(self) -> None:
        for spec in self.specs["key_result"]:
            existing = self.db["key_result"].get(spec.key)
            if spec.manual is not None and existing is not None and not existing.measure.is_manual:
                self.error(spec.line, f"{spec.label}: is measured by '{existing.measure.key}' today and "
                                      "cannot become a manual key result; give the manual one a new key")

    # -- the diff

    def diff(self) -> tuple[list[Change], list[Change], list[Change]]:
        changes: list[Change] = []
        for kind in ORDER:
            for spec in self._in_order(kind):
                changes.append(self._change(spec))
        done = [c for c in changes if c.action in ("create", "update")]
        unchanged = [c for c in changes if c.action == "unchanged"]
        return done, unchanged, self._kept()

    def _in_order(self, kind: str) -> list[_Spec]:
        """The file's order, parents before their children (objectives and org units)."""
        specs = [s for s in self.specs[kind] if self.declared[kind].get(s.key) is s]
        if kind not in ("objective", "org_unit"):
            return specs
        ordered, placed = [], set()

        def place(spec: _Spec, depth: int = 0):
            if spec.key in placed or depth > len(specs):
                return
            parent = spec.values.get("parent")
            if parent is not None and parent.key in self.declared[kind]:
                place(self.declared[kind][parent.key], depth + 1)
            placed.add(spec.key)
            ordered.append(spec)

        for spec in specs:
            place(spec)
        return ordered

    def _change(self, spec: _Spec) -> Change:
        if spec.kind == "target":
            return self._target_change(spec)
        if spec.kind == "key_result":
            return self._key_result_change(spec)
        existing = self.db[spec.kind].get(spec.key)
        if existing is None:
            fields = [FieldChange(spec.name_of(a), None, _plain(v)) for a, v in spec.values.items() if a != "key"]
            if spec.year is not None:
                fields = [FieldChange("fiscalYear", None, spec.year)]
            return Change("create", spec.kind, spec.key, spec.line, fields, apply=self._creator(spec))
        if spec.year is not None:  # the shorthand only adds the periods that are missing
            return Change("unchanged", spec.kind, spec.key, spec.line)
        changed = {a: v for a, v in spec.values.items() if not _same(getattr(existing, a), v)}
        if not changed:
            return Change("unchanged", spec.kind, spec.key, spec.line)
        fields = [FieldChange(spec.name_of(a), _plain(getattr(existing, a)), _plain(v)) for a, v in changed.items()]
        update = _UPDATE[spec.kind]

        def apply(ctx: _Context):
            ctx.put(spec.kind, update(existing, acting_user=ctx.user, **ctx.resolve(changed)))
        return Change("update", spec.kind, spec.key, spec.line, fields, apply=apply)

    def _creator(self, spec: _Spec):
        if spec.year is not None:
            def create_year(ctx: _Context):
                if spec.year not in ctx.fiscal_years:
                    ctx.fiscal_years.add(spec.year)
                    for period in goals.do_create_fiscal_year(spec.year, acting_user=ctx.user):
                        ctx.put("period", period)
            return create_year
        create = _CREATE[spec.kind]

        def apply(ctx: _Context):
            ctx.put(spec.kind, create(acting_user=ctx.user, **ctx.resolve(spec.values)))
        return apply

    def _target_change(self, spec: _Spec) -> Change:
        measure_ref, period_ref = Ref("measure", spec.owner.key), spec.values["period"]
        values = {a: v for a, v in spec.values.items() if a != "period"}
        existing = self.targets.get((spec.owner.key, period_ref.key))
        if existing is None:
            fields = [FieldChange(spec.name_of(a), None, _plain(v)) for a, v in values.items()]
            changed, action = values, "create"
        else:
            changed = {a: v for a, v in values.items() if not _same(getattr(existing, a), v)}
            fields = [FieldChange(spec.name_of(a), _plain(getattr(existing, a)), _plain(v))
                      for a, v in changed.items()]
            action = "update" if changed else "unchanged"
        if action == "unchanged":
            return Change(action, "target", spec.key, spec.line)

        def apply(ctx: _Context):
            measures.do_set_target(ctx.get(measure_ref), ctx.get(period_ref), acting_user=ctx.user, **changed)
        return Change(action, "target", spec.key, spec.line, fields, apply=apply)

    def _key_result_change(self, spec: _Spec) -> Change:
        objective_ref = Ref("objective", spec.owner.key)
        values = {"objective": objective_ref, **spec.values, "order": spec.order}
        names = {**spec.names, "objective": "objective", "order": "order"}
        manual = {} if spec.manual is None else spec.manual.values
        existing = self.db["key_result"].get(spec.key)
        if existing is None:
            fields = [FieldChange(names.get(a, a), None, _plain(v)) for a, v in values.items()
                      if a not in ("key", "objective")]
            fields += [FieldChange(f"manual.{name}", None, _plain(v)) for name, v in manual.items()]

            def create(ctx: _Context):
                kwargs = ctx.resolve({a: v for a, v in values.items() if a != "measure" or spec.manual is None})
                renamed = {"start": "start_value", "target": "target_value", "unit": "unit"}
                kwargs.update({renamed[name]: v for name, v in manual.items()})
                ctx.put("key_result", goals.do_create_key_result(acting_user=ctx.user, **kwargs))
            return Change("create", "key_result", spec.key, spec.line, fields, apply=create)

        changed = {a: v for a, v in values.items() if not _same(getattr(existing, a), v)}
        fields = [FieldChange(names.get(a, a), _plain(getattr(existing, a)), _plain(v)) for a, v in changed.items()]
        manual_changes = self._manual_changes(spec, existing, manual)
        fields += [FieldChange(f"manual.{name}", before, after) for name, (before, after) in manual_changes.items()]
        if not fields:
            return Change("unchanged", "key_result", spec.key, spec.line)
        period_ref = self._objective_period(spec.owner.key)

        def update(ctx: _Context):
            key_result = existing
            if changed:
                key_result = goals.do_update_key_result(existing, acting_user=ctx.user, **ctx.resolve(changed))
            if "unit" in manual_changes:
                measures.do_update_measure(key_result.measure, acting_user=ctx.user, unit=manual_changes["unit"][1])
            target = {attr: manual_changes[name][1] for name, attr in (("start", "baseline"), ("target", "target"))
                      if name in manual_changes}
            if target:
                measures.do_set_target(key_result.measure, ctx.get(period_ref), acting_user=ctx.user, **target)
            ctx.put("key_result", key_result)
        return Change("update", "key_result", spec.key, spec.line, fields, apply=update)

    def _objective_period(self, objective_key: str) -> Ref:
        spec = self.declared["objective"][objective_key]
        return spec.values["period"]

    def _manual_changes(self, spec: _Spec, existing: KeyResult, manual: dict) -> dict[str, tuple]:
        if spec.manual is None or not existing.measure.is_manual:
            return {}
        target = self.targets.get((existing.measure.key, self._objective_period(spec.owner.key).key))
        current = {"unit": existing.measure.unit, "start": target.baseline if target else None,
                   "target": target.target if target else None}
        if target is None:  # a new period for the objective: the one-off target is set again
            manual = {"start": 0.0, "target": 100.0, **manual}
        return {name: (_plain(current[name]), _plain(value)) for name, value in manual.items()
                if not _same(current[name], value)}

    def _kept(self) -> list[Change]:
        """What the database holds for the file's subjects that the file does not mention."""
        subjects = {kind: set() for kind in ("measure", "objective")}
        periods = set()
        for kind in subjects:
            for spec in self.declared[kind].values():
                ref = spec.values["subject"]
                target = self.db[ref.kind].get(ref.key)
                subject = getattr(target, "subject", None) if target is not None else None
                if subject is not None:
                    subjects[kind].add(subject.pk)
                if kind == "objective" and spec.values["period"].key in self.db["period"]:
                    periods.add(self.db["period"][spec.values["period"].key].pk)
        kept = []
        rows = (Measure.objects.restrict(self.user, "view")
                .filter(subject__in=subjects["measure"], is_manual=False)
                .exclude(key__in=list(self.declared["measure"])).order_by("key"))
        kept += [Change("keep", "measure", m.key, None) for m in rows]
        rows = (Objective.objects.restrict(self.user, "view")
                .filter(subject__in=subjects["objective"], period__in=periods)
                .exclude(key__in=list(self.declared["objective"])).order_by("key"))
        kept += [Change("keep", "objective", o.key, None) for o in rows]
        rows = (KeyResult.objects.restrict(self.user, "view")
                .filter(objective__key__in=list(self.declared["objective"]))
                .exclude(key__in=list(self.declared["key_result"])).order_by("key"))
        kept += [Change("keep", "key_result", kr.key, None) for kr in rows]
        return kept


_CREATE = {
    "period": goals.do_create_period,
    "org_unit": directory.do_create_org_unit,
    "service": directory.do_create_service,
    "process": directory.do_create_process,
    "measure": measures.do_create_measure,
    "objective": goals.do_create_objective,
}
_UPDATE = {
    "period": goals.do_update_period,
    "org_unit": directory.do_update_org_unit,
    "service": directory.do_update_service,
    "process": directory.do_update_process,
    "measure": measures.do_update_measure,
    "objective": goals.do_update_objective,
}


# -- public API ------------------------------------------------------------------------------


def _plan(data: str | bytes, file_name: str, acting_user) -> tuple[PlanResult, "_Planner | None"]:
    result = PlanResult(file_name)
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_PLAN_BYTES:
        result.errors.append(PlanError(file_name, 1, f"the file is larger than {MAX_PLAN_BYTES // 1024 // 1024} MB"))
        return result, None
    text, error = _decode(data, file_name)
    if error is not None:
        result.errors.append(error)
        return result, None
    documents, errors = load_documents(text, file_name)
    if errors:
        result.errors = errors
        return result, None
    reader = _Reader(file_name)
    reader.read(documents)
    planner = _Planner(file_name, acting_user, reader.specs, reader.errors)
    planner.check()
    result.errors = sorted(planner.errors, key=lambda e: e.line)
    if not result.errors:
        result.changes, result.unchanged, result.kept = planner.diff()
    return result, planner


def plan_file(data: str | bytes, file_name: str, *, acting_user) -> PlanResult:
    """Check the file and compute what applying it would change; writes nothing.

    Permissions are checked by the writes themselves: `do_apply_plan(..., dry_run=True)`
    also finds what the acting user may not change.
    """
    result, _planner = _plan(data, file_name, acting_user)
    return result


class _Failed(Exception):
    def __init__(self, error: PlanError):
        super().__init__(error.message)
        self.error = error


class _DryRun(Exception):
    pass


def do_apply_plan(data: str | bytes, file_name: str, *, acting_user, dry_run: bool = False) -> PlanResult:
    """Apply a plan file in one transaction, all or nothing; with `dry_run`, roll the writes back."""
    try:
        with transaction.atomic():
            # Plan inside the transaction so that what is checked is what is written.
            result, planner = _plan(data, file_name, acting_user)
            result.dry_run = dry_run
            if result.errors or not result.changes:
                return result
            ctx = _Context(acting_user, planner.db)
            for change in result.changes:
                try:
                    change.apply(ctx)
                except (PermissionDenied, ValidationError, Conflict) as error:
                    raise _Failed(_service_error(file_name, change, error)) from error
            if dry_run:
                raise _DryRun()
    except _DryRun:
        return result
    except _Failed as failed:
        result.errors = [failed.error]
        if failed.error.code == "forbidden":
            # The refusal was recorded inside the rolled-back transaction: record it again.
            record_event(Action.PERMISSION_DENIED, acting_user=acting_user, object_type="", object_id="",
                         object_repr=f"plan {file_name}"[:200],
                         after={"action": "apply plan", "what": str(failed.error), "dry_run": dry_run})
        return result
    result.applied = True
    return result


def _service_error(file_name: str, change: Change, error: Exception) -> PlanError:
    label = f"{LABELS[change.kind]} '{change.key}'"
    if isinstance(error, PermissionDenied):
        return PlanError(file_name, change.line, f"{label}: {error}", "forbidden")
    if isinstance(error, Conflict):
        return PlanError(file_name, change.line, f"{label}: {error.message}", "conflict")
    names = {f.attr: f.name for f in FIELDS[change.kind]}
    parts = [" ".join(messages) if name == "__all__" else f"{names.get(name, name)}: {' '.join(messages)}"
             for name, messages in validation_fields(error).items()]
    return PlanError(file_name, change.line, f"{label}: {'; '.join(parts)}")
