"""Running pulls: one source now (`run_pull`), or every due source (`run_due_pulls`, from the worker).

A run fetches the points (connectors), writes them through `do_ingest` with
`partial=True` (a bad row is reported, the good ones are kept) and source ids
`pull:<pk>:<time>` (a point pulled again adds nothing), then records the
outcome on the source: `last_run`, `last_success`, `last_error` (plain words,
never credentials; also lists rejected rows when a run partly succeeded) and
`last_ts` (where the next incremental run continues). A failing pull never
raises into the worker loop.

Scheduling: `run_due_pulls` claims each due source with a conditional UPDATE
that moves `next_run` forward (`WHERE next_run <= now`), as core/schedule.py
does for jobs; the worker whose UPDATE matched runs the pull, any other
worker's matches nothing, so a source is never pulled twice for one due time.
"""

import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from northstar.measures.connectors import Point, PullError, fetch, scrub
from northstar.measures.ingest import ObservationIn, do_ingest
from northstar.measures.models import IngestBatch, PullSource

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
ITEM_ERRORS_SHOWN = 5
PREVIEW_POINTS = 20
SOURCES = {PullSource.Kind.PROMETHEUS: IngestBatch.Source.PROMETHEUS, PullSource.Kind.SQL: IngestBatch.Source.SQL}


@dataclass
class PullResult:
    ok: bool
    error: str = ""
    dry_run: bool = False
    points: int = 0  # points the query returned
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    item_errors: list[str] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    last_ts: datetime | None = None
    preview: list[Point] = field(default_factory=list)  # the first points (dry runs)


class _DryRun(Exception):
    pass


def source_id(source: PullSource, point: Point) -> str | None:
    return None if point.key is None else f"pull:{source.pk}:{point.key}"


def _items(source: PullSource, points: list[Point]) -> list[ObservationIn]:
    key = source.measure.key
    return [ObservationIn(measure=key, ts=p.ts, value=p.value, good=p.good, total=p.total,
                          source_id=source_id(source, p), line=p.line) for p in points]


def run_pull(source: PullSource, *, now: datetime | None = None, acting_user=None,
             dry_run: bool = False) -> PullResult:
    """Pull once. `dry_run` fetches and validates but writes nothing and leaves the source as it was.

    Errors are returned in `result.error` (and stored in `last_error`), never raised.
    """
    now = now or timezone.now()
    result = PullResult(ok=False, dry_run=dry_run)
    try:
        _pull(source, now, acting_user, dry_run, result)
        result.ok = True
    except PullError as error:
        result.error = str(error)
    except Exception as error:
        # A bug, or a driver error we do not translate: keep it out of the worker loop, log it scrubbed.
        result.error = scrub(f"Unexpected error ({type(error).__name__}): {error}", source.url)
        logger.error("Pull source %s failed unexpectedly: %s\n%s", source.uid, result.error,
                     scrub(traceback.format_exc(), source.url))
    result.error = result.error[:MAX_ERROR_CHARS]
    if not dry_run:
        _record(source, now, result)
    return result


def _pull(source: PullSource, now: datetime, acting_user, dry_run: bool, result: PullResult) -> None:
    measure = source.measure
    if not measure.is_active:
        raise PullError(f"The measure {measure.key!r} is inactive; activate it, or deactivate this pull.")
    fetched = fetch(source, now=now, since=source.last_ts)
    result.points = len(fetched.points)
    result.window_start, result.window_end = fetched.window_start, fetched.window_end
    if dry_run:
        result.preview = fetched.points[:PREVIEW_POINTS]
    if fetched.points:
        ingest = _ingest(source, fetched.points, acting_user, dry_run)
        result.written, result.duplicates = ingest.written, ingest.duplicates
        result.rejected = len({e.item for e in ingest.errors})
        result.item_errors = [str(e) for e in ingest.errors]
    # Where the next incremental run continues: the newest time pulled (bad rows included, so one bad
    # row does not make every later run fetch it again), or past an empty window that was capped.
    newest = [p.ts for p in fetched.points if p.key is not None and isinstance(p.ts, datetime)]
    candidates = [t for t in (source.last_ts, fetched.advance_to, max(newest, default=None)) if t is not None]
    result.last_ts = max(candidates, default=None)
    if result.rejected:
        shown = "; ".join(result.item_errors[:ITEM_ERRORS_SHOWN])
        more = f" (and {len(result.item_errors) - ITEM_ERRORS_SHOWN} more)" if len(
            result.item_errors) > ITEM_ERRORS_SHOWN else ""
        result.error = f"{result.rejected} of {result.points} point(s) rejected: {shown}{more}"


def _ingest(source: PullSource, points: list[Point], acting_user, dry_run: bool):
    kwargs = {
        "source": SOURCES[source.kind], "acting_user": acting_user, "partial": True, "check_permission": False,
        "detail": f"{source.get_kind_display()} pull {source.uid}", "keep_rows": False,
    }
    if not dry_run:
        return do_ingest(_items(source, points), **kwargs)
    outcome = None
    try:
        with transaction.atomic():
            outcome = do_ingest(_items(source, points), **kwargs)
            raise _DryRun()  # roll back the observations, aggregates, batch and audit event
    except _DryRun:
        pass
    return outcome


def _record(source: PullSource, now: datetime, result: PullResult) -> None:
    values = {"last_run": now, "last_error": result.error}
    if result.ok:
        values["last_success"] = now
        values["last_ts"] = result.last_ts
    PullSource.objects.filter(pk=source.pk).update(**values)
    for name, value in values.items():
        setattr(source, name, value)
    if not result.ok:
        logger.warning("Pull source %s (%s for %s) failed: %s", source.uid, source.kind, source.measure.key,
                       result.error)
    else:
        logger.info("Pull source %s: %d point(s), %d written, %d duplicate(s), %d rejected", source.uid,
                    result.points, result.written, result.duplicates, result.rejected)


# -- scheduling ------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(is_active=True) & (Q(next_run__isnull=True) | Q(next_run__lte=now))


def claim(source: PullSource, now: datetime) -> bool:
    """Move the source's next run forward if it is due; True for the one caller whose UPDATE matched."""
    won = PullSource.objects.filter(_due(now), pk=source.pk).update(
        next_run=now + timedelta(seconds=max(int(source.every_seconds), 1))
    )
    return bool(won)


def run_due_pulls(now: datetime | None = None, *, limit: int | None = None) -> list[tuple[PullSource, PullResult]]:
    """Claim and run every due pull source (oldest due first); return what ran."""
    now = now or timezone.now()
    due = (PullSource.objects.filter(_due(now))
           .order_by(F("next_run").asc(nulls_first=True), "pk").values_list("pk", flat=True))
    ran = []
    for pk in list(due[:limit] if limit else due):
        source = PullSource.objects.select_related("measure").filter(pk=pk).first()
        if source is None or not claim(source, now):
            continue  # deleted meanwhile, or another worker took it
        try:
            ran.append((source, run_pull(source, now=now)))
        except Exception:  # run_pull does not raise; this guards the loop against the unforeseen
            logger.error("Pull source %s could not be run:\n%s", source.uid,
                         scrub(traceback.format_exc(), source.url))
    return ran
