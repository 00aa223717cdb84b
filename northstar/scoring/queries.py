"""Reads of evaluation results, always through `.restrict(user, "view")`.

`evaluate()` stores one ScoreSnapshot per node (measure, key result, objective,
perspective, scorecard), period and day. Everything here reads those snapshots
back: the latest one per node on or before a day (today by default), a few weeks
of daily scores for sparklines, and the structures the pages and the API show
(a subject's scorecard, the alignment tree, a measure's series, "my goals" and
the company overview). Nothing is scored here: numbers come from the engine,
through the snapshots, or from `engine.period_actual` for a measure's running
actual.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery, Sum, Value, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from northstar.core.roles import actor_for
from northstar.directory.models import OrgUnit, Subject, path_ids
from northstar.goals.models import CheckIn, KeyResult, Objective, Period, Perspective
from northstar.measures.models import Measure, Observation, Target
from northstar.scoring import engine
from northstar.scoring.evaluate import chunks
from northstar.scoring.models import STATUS_TONES, ScoreSnapshot, Status
from northstar.scoring.report import _subject_key as subject_key

Kind = ScoreSnapshot.NodeKind

# A measure's chart shows at most this many points; longer series are aggregated per time bucket in SQL.
MAX_POINTS = 500
# Days of daily scores behind a sparkline.
SPARK_DAYS = 30
# Check-ins shown per objective on "my goals".
RECENT_CHECK_INS = 5
# Best first: the order of statuses in counts, bars and legends.
STATUS_ORDER = (Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK, Status.PENDING, Status.NO_DATA)
SUBJECT_RELATED = ("subject__person", "subject__org_unit", "subject__service", "subject__process")
def status_label(status: str) -> str:
    return Status(status).label if status in Status.values else ""


def status_tone(status: str) -> str:
    return STATUS_TONES.get(status, "muted")


# -- one node's score ----------------------------------------------------------------------------


class StatusLabelled:
    """`label` and `tone` of the `status` a dataclass carries, for chips and legends."""

    status: str

    @property
    def label(self) -> str:
        return status_label(self.status)

    @property
    def tone(self) -> str:
        return status_tone(self.status)


@dataclass
class Score(StatusLabelled):
    """A node's latest snapshot (or "no data" when it has none) and its recent daily scores."""

    status: str = Status.NO_DATA
    day: date | None = None
    actual: float | None = None
    attainment: float | None = None
    score: float | None = None
    health: float | None = None
    forecast: float | None = None
    forecast_attainment: float | None = None
    forecast_status: str = ""
    elapsed: float | None = None
    history: list[tuple[date, float | None, str]] = field(default_factory=list)

    @classmethod
    def of(cls, snapshot: ScoreSnapshot | None) -> "Score":
        if snapshot is None:
            return cls()
        return cls(status=snapshot.status, day=snapshot.day, actual=snapshot.actual,
                   attainment=snapshot.attainment, score=snapshot.score, health=snapshot.health,
                   forecast=snapshot.forecast, forecast_attainment=snapshot.forecast_attainment,
                   forecast_status=snapshot.forecast_status, elapsed=snapshot.elapsed)

    @property
    def forecast_label(self) -> str:
        return status_label(self.forecast_status)

    @property
    def forecast_tone(self) -> str:
        return status_tone(self.forecast_status)

    @property
    def percent(self) -> int | None:
        """Progress (the score, up to the cap) in whole percent, for display."""
        return None if self.score is None else round(self.score * 100)

    @property
    def bar(self) -> float:
        """The progress bar's fill, 0 to 1 (a score above 1 fills the bar)."""
        return 0.0 if self.score is None else max(0.0, min(1.0, self.score))

    @property
    def sparkline(self) -> str:
        """`points` of an SVG polyline in a 100 x 24 box: the daily scores, 0 at the bottom."""
        known = [(day, value) for day, value, _status in self.history if value is not None]
        if len(known) < 2:
            return ""
        first, last = known[0][0], known[-1][0]
        span = max(1, (last - first).days)
        top = max(1.0, max(value for _day, value in known))
        return " ".join(f"{(day - first).days / span * 100:.1f},{22 - value / top * 20:.1f}" for day, value in known)

    @property
    def trend(self) -> str:
        """A sentence for the sparkline's accessible name."""
        known = [value for _day, value, _status in self.history if value is not None]
        if len(known) < 2:
            return ""
        return (f"Progress over the last {len(self.history)} daily scores: from {round(known[0] * 100)}% "
                f"to {round(known[-1] * 100)}%")


# -- periods -------------------------------------------------------------------------------------


def periods(user):
    return Period.objects.restrict(user, "view").order_by("-start", "end")


def period_by_key(user, key: str) -> Period:
    period = Period.objects.restrict(user, "view").filter(key=key).first()
    if period is None:
        raise ValidationError({"period": [f"No period with key {key!r}."]})
    return period


def default_period(user, objectives=None, *, on: date | None = None) -> Period | None:
    """The period to show when none is asked for.

    With `objectives` (a queryset): among periods holding some of them, the current
    one with the most (ties: the longer); else the latest started one; else the first
    upcoming. Without, or when there are none: the longest period containing today,
    else the latest started.
    """
    on = on or timezone.localdate()
    visible = Period.objects.restrict(user, "view")
    if objectives is not None:
        counts = dict(objectives.order_by().values_list("period_id").annotate(n=Count("pk")))
        candidates = list(visible.filter(pk__in=list(counts)))
        current = [p for p in candidates if p.start <= on < p.end]
        if current:
            return max(current, key=lambda p: (counts[p.pk], p.end - p.start))
        started = [p for p in candidates if p.start <= on]
        if started:
            return max(started, key=lambda p: (p.start, -counts[p.pk]))
        if candidates:
            return min(candidates, key=lambda p: p.start)
    current = list(visible.filter(start__lte=on, end__gt=on))
    if current:
        return max(current, key=lambda p: p.end - p.start)
    return visible.filter(start__lte=on).order_by("-start").first() or visible.order_by("start").first()


def choose_period(user, key: str | None, objectives=None) -> Period | None:
    """The period named by `key` (ValidationError naming `period` when unknown), else the default."""
    return period_by_key(user, key) if key else default_period(user, objectives)


# -- snapshots -----------------------------------------------------------------------------------


def restricted(model, user, action: str = "view"):
    return model.objects.restrict(user, action)


def snapshots(user):
    """The snapshots `user` may see: those of subjects they see."""
    return restricted(ScoreSnapshot, user)


def _newest_day(on: date):
    """The latest day on or before `on` of the outer row's node: a correlated subquery."""
    return (ScoreSnapshot.objects.filter(node_kind=OuterRef("node_kind"), node_id=OuterRef("node_id"),
                                         subject_id=OuterRef("subject_id"), period_id=OuterRef("period_id"),
                                         day__lte=on)
            .order_by("-day").values("day")[:1])


def latest_snapshots(user, period, *, on: date | None = None, subject=None, kind: str | None = None,
                     status: str | None = None, node_ids=None):
    """The latest snapshot of every node in `period` on or before `on` (default today)."""
    on = on or timezone.localdate()
    rows = snapshots(user).filter(period=period, day__lte=on)
    if subject is not None:
        rows = rows.filter(subject=subject)
    if kind:
        rows = rows.filter(node_kind=kind)
    if node_ids is not None:
        rows = rows.filter(node_id__in=list(node_ids))
    rows = rows.filter(day=Subquery(_newest_day(on)))
    if status:
        rows = rows.filter(status=status)
    return rows


def node_scores(user, period_id: int, kind: str, node_ids: Iterable[int], *, subject_id: int | None = None,
                on: date | None = None, days: int = SPARK_DAYS) -> dict[int, Score]:
    """{node id: Score} for nodes of one kind in one period, with `days` of daily history."""
    ids = sorted(set(node_ids))
    if not ids:
        return {}
    on = on or timezone.localdate()
    base = snapshots(user).filter(period_id=period_id, node_kind=kind, day__lte=on)
    if subject_id is not None:
        base = base.filter(subject_id=subject_id)
    scores: dict[int, Score] = {}
    for chunk in chunks(ids):
        for snapshot in base.filter(node_id__in=chunk, day=Subquery(_newest_day(on))).order_by("day"):
            scores[snapshot.node_id] = Score.of(snapshot)  # the newest wins if the subject changed
        if days:
            recent = (base.filter(node_id__in=chunk, day__gt=on - timedelta(days=days))
                      .order_by("node_id", "day").values_list("node_id", "day", "score", "status"))
            for node_id, day, value, status in recent:
                score = scores.get(node_id)
                if score is not None and (not score.history or score.history[-1][0] != day):
                    score.history.append((day, value, status))
    return scores


# -- objectives with their key results -------------------------------------------------------------


@dataclass
class KeyResultScore:
    key_result: KeyResult
    score: Score
    target: Target | None = None  # the measure's target in the objective's period

    @property
    def measure(self) -> Measure:
        return self.key_result.measure


@dataclass
class ObjectiveScore:
    objective: Objective
    score: Score
    key_results: list[KeyResultScore] = field(default_factory=list)
    role: str = ""  # on "my goals": owner, subject or contributor
    check_ins: list[CheckIn] = field(default_factory=list)
    # The alignment tree: child rows, depth, and a visible parent in another period.
    children: list["ObjectiveScore"] = field(default_factory=list)
    depth: int = 0
    parent_elsewhere: Objective | None = None

    @property
    def role_label(self) -> str:
        return {"owner": "Owner", "subject": "About you", "contributor": "Contributor"}.get(self.role, "")


def objective_rows(user, objectives: Iterable[Objective], *, key_results: bool = True,
                   days: int = SPARK_DAYS) -> list[ObjectiveScore]:
    """Objectives (already read through `.restrict`) with their latest scores and key results."""
    objectives = list(objectives)
    by_period: dict[int, list[int]] = defaultdict(list)
    for objective in objectives:
        by_period[objective.period_id].append(objective.pk)
    krs_by_objective: dict[int, list[KeyResult]] = defaultdict(list)
    kr_periods: dict[int, list[int]] = defaultdict(list)
    if key_results and objectives:
        periods_of = {o.pk: o.period_id for o in objectives}
        for chunk in chunks(list(periods_of)):
            for kr in (KeyResult.objects.restrict(user, "view").filter(objective_id__in=chunk)
                       .select_related("measure").order_by("order", "pk")):
                krs_by_objective[kr.objective_id].append(kr)
                kr_periods[periods_of[kr.objective_id]].append(kr.pk)
    objective_scores: dict[int, Score] = {}
    kr_scores: dict[int, Score] = {}
    targets: dict[tuple[int, int], Target] = {}
    for period_id, ids in by_period.items():
        objective_scores.update(node_scores(user, period_id, Kind.OBJECTIVE, ids, days=days))
        kr_ids = kr_periods.get(period_id, [])
        kr_scores.update(node_scores(user, period_id, Kind.KEY_RESULT, kr_ids, days=days))
        measure_ids = sorted({kr.measure_id for o in ids for kr in krs_by_objective[o]})
        for chunk in chunks(measure_ids):
            for target in Target.objects.restrict(user, "view").filter(period_id=period_id, measure_id__in=chunk):
                targets[(target.measure_id, period_id)] = target
    return [
        ObjectiveScore(
            objective=o, score=objective_scores.get(o.pk) or Score(),
            key_results=[KeyResultScore(kr, kr_scores.get(kr.pk) or Score(), targets.get((kr.measure_id, o.period_id)))
                         for kr in krs_by_objective[o.pk]],
        )
        for o in objectives
    ]


def _objectives(user):
    return (Objective.objects.restrict(user, "view").filter(is_active=True)
            .select_related("period", "perspective", "owner", "parent", *SUBJECT_RELATED))


# -- a subject's scorecard -------------------------------------------------------------------------


@dataclass
class PerspectiveScore:
    perspective: Perspective | None  # None: objectives that name no perspective
    score: Score
    objectives: list[ObjectiveScore]


@dataclass
class Scorecard:
    subject: Subject
    period: Period | None
    score: Score
    perspectives: list[PerspectiveScore]

    @property
    def objective_count(self) -> int:
        return sum(len(p.objectives) for p in self.perspectives)


def visible_subject(user, uid) -> Subject:
    """The subject with this uid if `user` may see it (Subject.DoesNotExist otherwise)."""
    return (Subject.objects.restrict(user, "view").select_related("person", "org_unit", "service", "process")
            .get(uid=uid))


def subject_objectives(user, subject: Subject):
    return Objective.objects.restrict(user, "view").filter(subject=subject, is_active=True)


def scorecard(user, subject: Subject, period: Period | None, *, days: int = SPARK_DAYS) -> Scorecard:
    """The subject's scorecard -> perspectives -> objectives -> key results, each with its latest score."""
    if period is None:
        return Scorecard(subject=subject, period=None, score=Score(), perspectives=[])
    objectives = _objectives(user).filter(subject=subject, period=period).order_by("title", "pk")
    rows = objective_rows(user, objectives, days=days)
    perspectives = list(Perspective.objects.restrict(user, "view").order_by("order", "name"))
    perspective_scores = node_scores(user, period.pk, Kind.PERSPECTIVE, [p.pk for p in perspectives],
                                     subject_id=subject.pk, days=days)
    total = node_scores(user, period.pk, Kind.SCORECARD, [subject.pk], subject_id=subject.pk, days=days)
    grouped: dict[int | None, list[ObjectiveScore]] = defaultdict(list)
    for row in rows:
        grouped[row.objective.perspective_id].append(row)
    blocks = [PerspectiveScore(p, perspective_scores.get(p.pk) or Score(), grouped.get(p.pk, []))
              for p in perspectives]
    if grouped.get(None):
        blocks.append(PerspectiveScore(None, Score(), grouped[None]))
    return Scorecard(subject=subject, period=period, score=total.get(subject.pk) or Score(), perspectives=blocks)


# -- the alignment tree ----------------------------------------------------------------------------


def _subject_rank(subject: Subject) -> tuple:
    """Company first, then divisions, departments and teams, then services and processes, then people."""
    if subject.kind == Subject.Kind.ORG_UNIT:
        return (0, subject.org_unit.depth, subject.org_unit.name.lower())
    if subject.kind in (Subject.Kind.SERVICE, Subject.Kind.PROCESS):
        return (1, 0, str(subject.target).lower())
    return (2, 0, str(subject.target).lower())


def alignment(user, period: Period) -> list[ObjectiveScore]:
    """The visible objectives of `period` as a forest, from company objectives down to individual ones.

    An objective is a root when it has no parent, or its parent is not visible to
    `user` or sits in another period (then shown as `parent_elsewhere` if visible).
    """
    objectives = list(_objectives(user).filter(period=period))
    rows = objective_rows(user, objectives, key_results=False, days=0)
    by_id = {row.objective.pk: row for row in rows}
    outside = {o.parent_id for o in objectives if o.parent_id and o.parent_id not in by_id}
    elsewhere = {o.pk: o for o in Objective.objects.restrict(user, "view").filter(pk__in=outside)
                 .select_related("period")}
    roots = []
    for row in rows:
        parent = by_id.get(row.objective.parent_id)
        if parent is None:
            row.parent_elsewhere = elsewhere.get(row.objective.parent_id)
            roots.append(row)
        else:
            parent.children.append(row)

    def order(items):
        items.sort(key=lambda r: (_subject_rank(r.objective.subject), r.objective.title.lower(), r.objective.pk))

    order(roots)
    stack = [(row, 0) for row in reversed(roots)]
    while stack:
        row, depth = stack.pop()
        row.depth = depth
        order(row.children)
        stack.extend((child, depth + 1) for child in reversed(row.children))
    return roots


def flatten(roots: list[ObjectiveScore]):
    """The tree in pre-order (parents before their children), for tables, CSV and the API."""
    stack = list(reversed(roots))
    while stack:
        row = stack.pop()
        yield row
        stack.extend(reversed(row.children))


# -- a measure's series ----------------------------------------------------------------------------


@dataclass
class Point:
    ts: datetime  # the observation's time, or the last one in its bucket
    value: float | None  # the observation's value (good / total for a ratio), or the bucket's mean
    low: float | None
    high: float | None
    n: int  # observations behind the point
    actual: float | None  # the period actual (SCORING.md §3) up to and including this point


@dataclass
class Band(StatusLabelled):
    status: str
    lower: float | None  # None: unbounded
    upper: float | None



@dataclass
class Series:
    measure: Measure
    period: Period
    start: datetime
    end: datetime
    target: Target | None
    observations: int
    downsampled: bool
    bucket_seconds: float | None
    points: list[Point]
    bands: list[Band]
    paced: bool  # linear tracking in an open period: status is judged on pace, the bounds scale with f
    latest: Score
    history: list[ScoreSnapshot]

    @property
    def closed(self) -> bool:
        return timezone.now() >= self.end


def value_at_attainment(polarity: str, level: float, *, target=None, baseline=None, lower=None, upper=None,
                        tolerance=None):
    """Where SCORING.md §4's attainment equals `level`, in the measure's units, to draw threshold bands.

    increase and decrease: the actual A with a(A) = level (None when none has it);
    range: the (low, high) interval where a >= level, (None, None) when every actual
    qualifies, None when none does. tests/scoring/test_queries.py checks every case
    against `engine.attainment`.
    """
    if polarity == Measure.Polarity.RANGE:
        if lower is None or upper is None:
            return None
        if level <= 0:
            return (None, None)
        if level > 1:
            return None
        tol = tolerance
        if tol is None:  # §4's default tolerance
            tol = upper - lower or 0.1 * abs(lower) or 1.0
        distance = (1 - level) * tol
        return (lower - distance, upper + distance)
    if target is None:
        return None
    if baseline is None and polarity == Measure.Polarity.DECREASE:
        return target / level if level > 0 and target > 0 else None  # a = T / A
    b = 0.0 if baseline is None else baseline
    if target == b:  # a is 1 once the target is reached, else 0
        return target
    return b + level * (target - b)


def _higher_is_better(measure: Measure, target: Target) -> bool:
    if measure.polarity == Measure.Polarity.INCREASE:
        return target.target >= (target.baseline or 0.0)
    if target.baseline is None:
        return False
    return target.baseline < target.target


def threshold_bands(measure: Measure, target: Target | None, *, fraction: float = 1.0) -> list[Band]:
    """The actual's ranges per status with the target's thresholds, in the measure's units.

    `fraction` scales the thresholds for pace (linear tracking: x = a / f), so the
    bands at elapsed fraction f are `threshold_bands(..., fraction=f)`.
    """
    if target is None:
        return []
    on_level, risk_level = target.on_track * fraction, target.at_risk * fraction
    values = {"target": target.target, "baseline": target.baseline, "lower": target.lower, "upper": target.upper,
              "tolerance": target.tolerance}
    on = value_at_attainment(measure.polarity, on_level, **values)
    risk = value_at_attainment(measure.polarity, risk_level, **values)
    bands: list[Band] = []
    if measure.polarity == Measure.Polarity.RANGE:
        if on is None and risk is None:
            return [Band(Status.OFF_TRACK, None, None)]
        if on is not None:
            bands.append(Band(Status.ON_TRACK, *on))
        if risk is not None:
            if on is None:
                bands.append(Band(Status.AT_RISK, *risk))
            else:
                bands += [Band(Status.AT_RISK, risk[0], on[0]), Band(Status.AT_RISK, on[1], risk[1])]
        outer = risk or on
        bands += [Band(Status.OFF_TRACK, None, outer[0]), Band(Status.OFF_TRACK, outer[1], None)]
    else:
        if target.target is None:
            return []
        if on is None:
            on = risk
        if risk is None:
            risk = on
        if on is None:
            return []
        if _higher_is_better(measure, target):
            bands = [Band(Status.ON_TRACK, on, None), Band(Status.AT_RISK, risk, on),
                     Band(Status.OFF_TRACK, None, risk)]
        else:
            bands = [Band(Status.ON_TRACK, None, on), Band(Status.AT_RISK, on, risk),
                     Band(Status.OFF_TRACK, risk, None)]
    return [b for b in bands if b.lower is None or b.upper is None or b.lower < b.upper]


def _epoch_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _bucket_sql(column: str) -> str:
    seconds = f"(({_epoch_sql(column)} - %s) / %s)"
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR({seconds}) AS BIGINT)"
    return f"CAST({seconds} AS INTEGER)"  # never negative here, so truncation is the floor


def _raw_points(rows) -> tuple[list, dict[str, np.ndarray]]:
    stamps, values, goods, totals = [], [], [], []
    for ts, value, good, total in rows.order_by("ts", "id").values_list("ts", "value", "good", "total"):
        stamps.append(ts)
        values.append(np.nan if value is None else value)
        goods.append(good or 0.0)
        totals.append(total or 0.0)
    values_a = np.array(values, dtype=float)
    goods_a, totals_a = np.array(goods, dtype=float), np.array(totals, dtype=float)
    ratio = np.divide(goods_a, totals_a, out=np.full(len(stamps), np.nan), where=totals_a > 0)
    shown = np.where(np.isnan(values_a), ratio, values_a)
    columns = {"n": np.ones(len(stamps)), "count_values": (~np.isnan(values_a)).astype(float),
               "sum": np.nan_to_num(values_a), "min": values_a, "max": values_a, "last": values_a,
               "good": goods_a, "total": totals_a, "shown": shown, "low": shown, "high": shown}
    return stamps, columns


def _bucket_points(rows, first: datetime, width: float) -> tuple[list, dict[str, np.ndarray]]:
    table = connection.ops.quote_name(Observation._meta.db_table)
    # Only quoted names from the model are formatted in; the values are parameters.
    bucket = RawSQL(_bucket_sql(f"{table}.{connection.ops.quote_name('ts')}"),  # noqa: S611
                    (first.timestamp(), width))
    grouped = list(
        rows.annotate(bucket=bucket).values("bucket")
        .annotate(n=Count("id"), count_values=Count("value"), sum=Sum("value"), low=Min("value"), high=Max("value"),
                  good=Sum("good"), total=Sum("total"), last_ts=Max("ts"))
        .order_by("bucket")
    )
    # The last value of each bucket: the observation at its greatest ts (ties: the one recorded last).
    last_values = {}
    for chunk in chunks([g["last_ts"] for g in grouped]):
        for ts, value in rows.filter(ts__in=chunk).order_by("ts", "id").values_list("ts", "value"):
            last_values[ts] = value

    def column(name, fill=np.nan):
        return np.array([fill if g[name] is None else g[name] for g in grouped], dtype=float)

    n, count_values = column("n", 0.0), column("count_values", 0.0)
    sums, goods, totals = column("sum", 0.0), column("good", 0.0), column("total", 0.0)
    with np.errstate(all="ignore"):
        mean = np.where(count_values > 0, sums / count_values, np.nan)
        ratio = np.where(totals > 0, goods / totals, np.nan)
    shown = np.where(count_values > 0, mean, ratio)
    lows, highs = column("low"), column("high")
    columns = {"n": n, "count_values": count_values, "sum": sums, "min": lows, "max": highs,
               "last": np.array([np.nan if last_values.get(g["last_ts"]) is None else last_values[g["last_ts"]]
                                 for g in grouped], dtype=float),
               "good": goods, "total": totals, "shown": shown,
               "low": np.where(count_values > 0, lows, ratio), "high": np.where(count_values > 0, highs, ratio)}
    return [g["last_ts"] for g in grouped], columns


def _running_actual(measure: Measure, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The period actual after each point, by the engine's §3 rule on running aggregates."""
    size = len(columns["n"])
    if size == 0:
        return np.zeros(0)
    aggregates = engine.Aggregates(
        n=np.cumsum(columns["n"]), sum=np.cumsum(columns["sum"]),
        min=np.fmin.accumulate(columns["min"]), max=np.fmax.accumulate(columns["max"]),
        last=columns["last"], sum_good=np.cumsum(columns["good"]), sum_total=np.cumsum(columns["total"]),
    )
    return engine.period_actual(measure.aggregation, aggregates)


def _number(value) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def measure_series(user, measure: Measure, period: Period, *, max_points: int = MAX_POINTS) -> Series:
    """A measure (already read through `.restrict`) in a period: observations (aggregated per time
    bucket in SQL when there are more than `max_points`), target, threshold bands, the latest
    score with its forecast, and the daily snapshots."""
    start, end = period.bounds()
    rows = restricted(Observation, user).filter(measure=measure, ts__gte=start, ts__lt=end)
    count = rows.count()
    width = None
    if count <= max_points:
        stamps, columns = _raw_points(rows)
    else:
        span = rows.aggregate(first=Min("ts"), last=Max("ts"))
        width = max((span["last"] - span["first"]).total_seconds() / max_points * (1 + 1e-9), 1e-3)
        stamps, columns = _bucket_points(rows, span["first"], width)
    actual = _running_actual(measure, columns)
    points = [Point(ts=stamps[i], value=_number(columns["shown"][i]), low=_number(columns["low"][i]),
                    high=_number(columns["high"][i]), n=int(columns["n"][i]), actual=_number(actual[i]))
              for i in range(len(stamps))]
    target = Target.objects.restrict(user, "view").filter(measure=measure, period=period).first()
    latest = node_scores(user, period.pk, Kind.MEASURE, [measure.pk], days=0).get(measure.pk) or Score()
    history = list(snapshots(user)
                   .filter(node_kind=Kind.MEASURE, node_id=measure.pk, period=period).order_by("day"))
    paced = measure.effective_tracking == Measure.Tracking.LINEAR and timezone.now() < end
    return Series(measure=measure, period=period, start=start, end=end, target=target, observations=count,
                  downsampled=width is not None, bucket_seconds=width, points=points,
                  bands=threshold_bands(measure, target), paced=paced, latest=latest, history=history)


def measure_periods(user, measure: Measure):
    """Periods where the measure has a target, or backs a key result."""
    return (Period.objects.restrict(user, "view")
            .filter(Q(targets__measure=measure) | Q(objectives__key_results__measure=measure)).distinct()
            .order_by("-start", "end"))


def measure_default_period(user, measure: Measure) -> Period | None:
    """The shortest current period among the measure's own, else its latest, else the default period."""
    today = timezone.localdate()
    candidates = list(measure_periods(user, measure))
    current = [p for p in candidates if p.start <= today < p.end]
    if current:
        return min(current, key=lambda p: p.end - p.start)
    return candidates[0] if candidates else default_period(user)


# -- my goals ----------------------------------------------------------------------------------------


@dataclass
class PeriodGroup:
    period: Period
    objectives: list[ObjectiveScore]

    @property
    def last_day(self) -> date:
        return self.period.end - timedelta(days=1)

    @property
    def state(self) -> str:
        today = timezone.localdate()
        if self.period.end <= today:
            return "past"
        return "current" if self.period.start <= today else "upcoming"


def my_objectives(user):
    """Objectives owned by or about the signed-in person, and those they contribute to."""
    person_id = actor_for(user).person_id
    if person_id is None:
        return Objective.objects.none()
    mine = Q(owner_id=person_id) | Q(subject__person_id=person_id) | Q(contributors__id=person_id)
    ids = Objective.objects.restrict(user, "view").filter(mine, is_active=True).values("pk")
    return _objectives(user).filter(pk__in=ids)


def recent_check_ins(user, objective_ids, per_objective: int = RECENT_CHECK_INS) -> dict[int, list[CheckIn]]:
    found: dict[int, list[CheckIn]] = defaultdict(list)
    ids = list(objective_ids)
    for chunk in chunks(ids):
        rows = (CheckIn.objects.restrict(user, "view").filter(objective_id__in=chunk)
                .annotate(rank=Window(RowNumber(), partition_by=F("objective_id"),
                                      order_by=(F("created").desc(), F("pk").desc())))
                .filter(rank__lte=per_objective).select_related("author", "key_result").order_by("-created", "-pk"))
        for check_in in rows:
            found[check_in.objective_id].append(check_in)
    return found


def my_goals(user, period: Period | None = None, *, days: int = SPARK_DAYS) -> list[PeriodGroup]:
    """My objectives grouped by period: current periods first (shortest first), then upcoming, then past."""
    objectives = my_objectives(user)
    if period is not None:
        objectives = objectives.filter(period=period)
    rows = objective_rows(user, objectives.order_by("title", "pk"), days=days)
    person_id = actor_for(user).person_id
    check_ins = recent_check_ins(user, [row.objective.pk for row in rows])
    groups: dict[int, PeriodGroup] = {}
    for row in rows:
        o = row.objective
        row.role = ("owner" if o.owner_id == person_id
                    else "subject" if o.subject.person_id == person_id else "contributor")
        row.check_ins = check_ins.get(o.pk, [])
        groups.setdefault(o.period_id, PeriodGroup(o.period, [])).objectives.append(row)
    today = timezone.localdate()

    def order(group: PeriodGroup):
        p = group.period
        if p.start <= today < p.end:
            return (0, (p.end - p.start).days, p.start.toordinal())
        if p.start > today:
            return (1, p.start.toordinal(), 0)
        return (2, -p.start.toordinal(), 0)

    return sorted(groups.values(), key=order)


# -- the company overview ------------------------------------------------------------------------------


@dataclass
class Segment(StatusLabelled):
    status: str
    count: int
    x: float  # where the segment starts in a 0-100 bar
    width: float



@dataclass
class StatusCounts:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, status: str, n: int) -> None:
        self.counts[status] = self.counts.get(status, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def get(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def ordered(self) -> list[tuple[str, int]]:
        return [(status, self.get(status)) for status in STATUS_ORDER]

    @property
    def segments(self) -> list[Segment]:
        total, x, out = self.total, 0.0, []
        for status in STATUS_ORDER:
            n = self.get(status)
            if n and total:
                width = n / total * 100
                out.append(Segment(status, n, x, width))
                x += width
        return out


@dataclass
class UnitRow:
    unit: OrgUnit
    counts: StatusCounts
    has_children: bool


@dataclass
class Overview:
    period: Period | None
    unit: OrgUnit | None  # the unit whose parts are listed; None: several top-level units
    ancestors: list[OrgUnit]
    rows: list[UnitRow]
    own: StatusCounts  # objectives attached to `unit` itself: its own, its direct members', its services'
    totals: StatusCounts


def _objective_status(user, on: date):
    latest = (snapshots(user)
              .filter(node_kind=Kind.OBJECTIVE, node_id=OuterRef("pk"), subject_id=OuterRef("subject_id"),
                      period_id=OuterRef("period_id"), day__lte=on)
              .order_by("-day").values("status")[:1])
    return Coalesce(Subquery(latest), Value(Status.NO_DATA))


def unit_by_key(user, key: str) -> OrgUnit:
    unit = OrgUnit.objects.restrict(user, "view").filter(key=key).first()
    if unit is None:
        raise ValidationError({"unit": [f"No org unit with key {key!r}."]})
    return unit


def overview(user, period: Period | None, unit: OrgUnit | None = None, *, on: date | None = None) -> Overview:
    """Objective statuses per org unit below `unit` (default: the company's children), counted over
    each unit's subtree: the units' own objectives, their people's, and their services' and processes'."""
    on = on or timezone.localdate()
    units = OrgUnit.objects.restrict(user, "view").filter(is_active=True)
    if unit is None:
        roots = list(units.filter(parent__isnull=True))
        if len(roots) == 1:
            unit = roots[0]
    parts = list(units.filter(parent=unit) if unit is not None else roots)
    parts = list(units.filter(pk__in=[u.pk for u in parts]).select_related("subject")
                 .annotate(active_children=Count("children", filter=Q(children__is_active=True))))
    parts.sort(key=lambda u: u.name.lower())
    ancestors = list(units.filter(pk__in=path_ids(unit.path)[:-1]).order_by("path")) if unit else []
    rows = {u.pk: UnitRow(u, StatusCounts(), u.active_children > 0) for u in parts}
    own, totals = StatusCounts(), StatusCounts()
    if period is not None:
        unit_path = Coalesce("subject__org_unit__path", "subject__person__org_unit__path",
                             "subject__service__owner_team__path", "subject__process__owner_team__path")
        objectives = (Objective.objects.restrict(user, "view").filter(period=period, is_active=True)
                      .annotate(unit_path=unit_path, score_status=_objective_status(user, on)))
        if unit is not None:
            objectives = objectives.filter(unit_path__startswith=unit.path)
        depth = len(path_ids(unit.path)) if unit is not None else 0
        grouped = objectives.order_by().values("unit_path", "score_status").annotate(n=Count("pk"))
        for entry in grouped:
            ids = path_ids(entry["unit_path"] or "")
            totals.add(entry["score_status"], entry["n"])
            if len(ids) > depth and ids[depth] in rows:
                rows[ids[depth]].counts.add(entry["score_status"], entry["n"])
            elif unit is not None and len(ids) == depth:
                own.add(entry["score_status"], entry["n"])
    return Overview(period=period, unit=unit, ancestors=ancestors, rows=list(rows.values()), own=own,
                    totals=totals)


# -- rows of snapshots, for GET /scores and CSV ------------------------------------------------------


def score_rows(user, snapshots: Iterable[ScoreSnapshot]) -> list[dict]:
    """Snapshots as plain rows with report.ROW_FIELDS (plus day and subject_uid); names are looked up
    through `.restrict`, and a parent the user may not see is left out."""
    snapshots = list(snapshots)
    ids: dict[str, set[int]] = defaultdict(set)
    for s in snapshots:
        ids[s.node_kind].add(s.node_id)
    subjects = {s.pk: s for s in Subject.objects.restrict(user, "view").filter(
        pk__in={s.subject_id for s in snapshots}).select_related("person", "org_unit", "service", "process")}
    periods_by_id = {p.pk: p.key for p in Period.objects.restrict(user, "view").filter(
        pk__in={s.period_id for s in snapshots})}
    measures = {m.pk: m for m in Measure.objects.restrict(user, "view").filter(pk__in=ids[Kind.MEASURE])}
    krs = {k.pk: k for k in KeyResult.objects.restrict(user, "view").filter(pk__in=ids[Kind.KEY_RESULT])
           .select_related("objective")}
    objectives = {o.pk: o for o in Objective.objects.restrict(user, "view").filter(pk__in=ids[Kind.OBJECTIVE])}
    parent_ids = {o.parent_id for o in objectives.values() if o.rolls_up and o.parent_id}
    parents = {o.pk: o for o in Objective.objects.restrict(user, "view").filter(pk__in=parent_ids)}
    perspectives = {p.pk: p for p in Perspective.objects.restrict(user, "view").filter(pk__in=ids[Kind.PERSPECTIVE])}
    rows = []
    for s in snapshots:
        subject = subjects.get(s.subject_id)
        if subject is None:
            continue
        skey = subject_key(subject)
        key, name, parent = str(s.node_id), "", None
        if s.node_kind == Kind.MEASURE and s.node_id in measures:
            key, name = measures[s.node_id].key, measures[s.node_id].name
        elif s.node_kind == Kind.KEY_RESULT and s.node_id in krs:
            kr = krs[s.node_id]
            key, name, parent = kr.key, kr.title, {"kind": Kind.OBJECTIVE, "key": kr.objective.key}
        elif s.node_kind == Kind.OBJECTIVE and s.node_id in objectives:
            o = objectives[s.node_id]
            key, name = o.key, o.title
            if o.rolls_up and o.parent_id in parents:
                parent = {"kind": Kind.OBJECTIVE, "key": parents[o.parent_id].key}
        elif s.node_kind == Kind.PERSPECTIVE and s.node_id in perspectives:
            key, name = perspectives[s.node_id].key, perspectives[s.node_id].name
            parent = {"kind": Kind.SCORECARD, "key": skey}
        elif s.node_kind == Kind.SCORECARD:
            key, name = skey, f"Scorecard of {subject.target}"
        rows.append({
            "kind": s.node_kind, "key": key, "name": name, "subject": skey, "subject_kind": subject.kind,
            "subject_uid": subject.uid, "period": periods_by_id.get(s.period_id, ""), "day": s.day,
            "actual": s.actual, "attainment": s.attainment, "score": s.score, "health": s.health,
            "status": s.status, "forecast": s.forecast, "forecast_attainment": s.forecast_attainment,
            "forecast_status": s.forecast_status or None, "elapsed": s.elapsed, "parent": parent,
        })
    return rows
