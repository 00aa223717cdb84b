"""Observation files (CSV or XLSX): read with directory.importer.read_table, then stored
through the one write path, do_ingest, with line-numbered errors.

    read_observations(file_name, data)   bytes -> ObservationFile: items with their lines, column errors
    ingest_file(file_name, data, ...)    read, then do_ingest; `dry_run` checks everything, writes nothing

Columns are found by header, case-insensitively and ignoring spaces, '_' and '-'
(COLUMNS; docs/ingest.md documents them): measure, ts, value, good, total,
source_id. A ratio measure reads good and total; any other measure reads value.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from northstar.directory.importer import InvalidFile, LineError, ProgressCallback, normalise, read_table
from northstar.measures.ingest import IngestRejected, IngestResult, ItemError, ObservationIn, do_ingest
from northstar.measures.models import IngestBatch, Measure

# Field -> accepted headers after normalise(), preferred first.
COLUMNS = {
    "measure": ("measure", "measure key", "key"),
    "ts": ("ts", "timestamp", "time"),
    "value": ("value",),
    "good": ("good",),
    "total": ("total",),
    "source_id": ("source id",),
}
PREVIEW_ROWS = 20


@dataclass
class ObservationFile:
    file_name: str
    rows: int = 0  # data rows read (blank rows skipped)
    items: list[ObservationIn] = field(default_factory=list)  # each with the line it came from
    columns: dict[str, str] = field(default_factory=dict)  # field -> the header as written in the file
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)  # problems with the file as a whole

    def label(self, name: str) -> str:
        return self.columns.get(name, name)


def read_observations(file_name: str, data: bytes, progress: ProgressCallback | None = None) -> ObservationFile:
    """The file's rows as ObservationIn items; values are left as read, do_ingest checks them."""
    read = ObservationFile(file_name)
    try:
        table = read_table(file_name, data)
    except InvalidFile as error:
        read.errors.append(LineError(error.line, "", error.message))
        return read
    read.rows = len(table.rows)
    index = _map_columns(table.headers, table.header_line, read)
    if read.errors:
        return read
    for done, (line, cells) in enumerate(table.rows, start=1):
        def cell(name, cells=cells):
            position = index.get(name)
            return cells[position] if position is not None and position < len(cells) else None

        source_id = _text(cell("source_id"))
        read.items.append(ObservationIn(
            measure=_text(cell("measure")), ts=_moment(cell("ts")), value=_blank_is_none(cell("value")),
            good=_blank_is_none(cell("good")), total=_blank_is_none(cell("total")),
            source_id=source_id or None, line=line,
        ))
        if progress and (done % 1000 == 0 or done == len(table.rows)):
            progress("Reading rows", done, len(table.rows))
    return read


def _map_columns(headers: list[str], line: int, read: ObservationFile) -> dict[str, int]:
    normalised = [normalise(h) for h in headers]
    index = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            positions = [i for i, n in enumerate(normalised) if n == alias]
            if len(positions) > 1:
                read.errors.append(LineError(line, headers[positions[0]], (
                    f"{len(positions)} columns are headed '{headers[positions[0]]}'; keep one")))
            if positions:
                index[name] = positions[0]
                read.columns[name] = headers[positions[0]]
                break
    used = set(index.values())
    read.ignored_columns = [h for i, h in enumerate(headers) if h and i not in used]
    missing = [label for name, label in (("measure", "measure"), ("ts", "ts")) if name not in index]
    if "value" not in index and not ("good" in index and "total" in index):
        missing.append("value (or good and total)")
    for label in missing:
        read.errors.append(LineError(line, label, f"missing required column: {label}"))
    return index


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a key or id typed as a number in Excel: 1001.0 -> "1001"
    return str(value).strip()


def _blank_is_none(value):
    return None if isinstance(value, str) and not value.strip() else value


def _moment(value):
    """A timestamp cell: text is parsed by do_ingest; Excel date cells become midnight."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        return value.strip()
    return value


# -- ingesting a file --------------------------------------------------------------------------


@dataclass
class MeasureLines:
    """Per measure: how many of the file's good lines feed it, and their time span."""

    key: str
    name: str
    lines: int
    first: datetime | None
    last: datetime | None


@dataclass
class FileIngest:
    file_name: str
    dry_run: bool
    partial: bool
    read: ObservationFile
    errors: list[LineError] = field(default_factory=list)  # file errors, then bad lines in line order
    received: int = 0
    written: int = 0  # on a dry run: what would be written
    duplicates: int = 0
    rejected: int = 0  # lines with at least one error
    batch: IngestBatch | None = None
    measures: list[MeasureLines] = field(default_factory=list)
    preview: list[ObservationIn] = field(default_factory=list)  # the first good lines

    @property
    def applied(self) -> bool:
        return self.batch is not None

    @property
    def ok(self) -> bool:
        return not self.errors


class _DryRun(Exception):
    def __init__(self, result: IngestResult):
        super().__init__("dry run: roll back")
        self.result = result


def ingest_file(file_name: str, data: bytes, *, acting_user, token=None, dry_run: bool = True,
                partial: bool = False, progress: ProgressCallback | None = None) -> FileIngest:
    """Read the file and store its observations with do_ingest (all or nothing unless `partial`).

    A dry run runs exactly the same checks and writes inside a transaction that is
    then rolled back, so what it reports is what a real run would do.
    """
    read = read_observations(file_name, data, progress)
    outcome = FileIngest(file_name, dry_run, partial, read, errors=list(read.errors), received=len(read.items))
    if read.errors or not read.items:
        return outcome
    stage = "Checking" if dry_run else "Checking and storing"
    if progress:
        progress(stage, 0, len(read.items))
    try:
        result = _ingest(read.items, acting_user=acting_user, token=token, file_name=file_name, partial=partial,
                         dry_run=dry_run)
    except IngestRejected as rejected:
        bad: list[ItemError] = rejected.errors
        result = None
    else:
        bad = result.errors
        outcome.written, outcome.duplicates = result.written, result.duplicates
        outcome.batch = None if dry_run else result.batch
    if progress:
        progress(stage, len(read.items), len(read.items))
    outcome.errors += [LineError(e.item, read.label(e.field), e.message) for e in bad]
    outcome.errors.sort(key=lambda e: e.line)
    bad_lines = {e.item for e in bad}
    outcome.rejected = len(bad_lines)
    good = [item for item in read.items if item.line not in bad_lines]
    if result is not None:
        outcome.measures = _by_measure(good)
        outcome.preview = good[:PREVIEW_ROWS]
    return outcome


def _ingest(items, *, acting_user, token, file_name, partial, dry_run) -> IngestResult:
    options = {"source": IngestBatch.Source.FILE, "acting_user": acting_user, "token": token,
               "detail": file_name, "partial": partial, "keep_rows": False}
    if not dry_run:
        return do_ingest(items, **options)
    try:
        with transaction.atomic():
            raise _DryRun(do_ingest(items, **options))
    except _DryRun as done:
        return done.result


def _by_measure(items: list[ObservationIn]) -> list[MeasureLines]:
    grouped: dict[str, list] = defaultdict(list)
    for item in items:
        grouped[item.measure].append(_aware(item.ts))
    names = dict(Measure.objects.filter(key__in=grouped).values_list("key", "name"))
    summary = []
    for key, moments in sorted(grouped.items()):
        known = [m for m in moments if m is not None]
        summary.append(MeasureLines(key, names.get(key, key), len(moments), min(known, default=None),
                                    max(known, default=None)))
    return summary


def _aware(value) -> datetime | None:
    """For the preview only: the time a good line's ts stands for (do_ingest has checked it)."""
    moment = value if isinstance(value, datetime) else parse_datetime(value) if isinstance(value, str) else None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment
