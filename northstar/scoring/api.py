"""API: evaluation results. Latest scores, scorecards, the alignment tree, measure series,
"my goals" and the company overview; each reads the stored daily snapshots through
`northstar.scoring.queries`, so what a user sees is what they may see.

`period` is a period key everywhere; left out, the period is chosen as on the
pages (the current period holding the most of the objectives concerned).
"""

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from northstar.api.errors import ERRORS
from northstar.directory.models import Subject
from northstar.goals.models import Objective
from northstar.measures.models import Measure
from northstar.scoring import queries
from northstar.scoring.models import ScoreSnapshot, Status

router = Router(tags=["scores"])

NodeKind = Literal["measure", "key_result", "objective", "perspective", "scorecard"]
StatusName = Literal["no_data", "pending", "off_track", "at_risk", "on_track"]


# -- schemas -----------------------------------------------------------------------------------------


class ScorePeriod(Schema):
    key: str
    name: str
    start: date
    end: date = Field(description="The first day after the period")


class ScoreSubject(Schema):
    uid: UUID
    kind: str
    key: str = Field(description="The org unit's, service's or process's key, or the employee id")
    name: str


class ScoreParent(Schema):
    kind: NodeKind
    key: str


class ScoreRow(Schema):
    """One node's latest snapshot; the fields of `northstar evaluate --json` plus `day` and `subject_uid`."""

    kind: NodeKind
    key: str
    name: str
    subject: str = Field(description="The subject's key or employee id")
    subject_kind: str
    subject_uid: UUID
    period: str
    day: date = Field(description="The day of the snapshot (the latest on or before today)")
    actual: float | None
    attainment: float | None
    score: float | None = Field(description="s for a measure or key result; progress S for a roll-up")
    health: float | None = Field(description="x for a measure or key result; H for a roll-up")
    status: StatusName
    forecast: float | None
    forecast_attainment: float | None
    forecast_status: StatusName | None
    elapsed: float | None
    parent: ScoreParent | None = Field(description="The node it counts in, when visible")


class ScoreHistoryPoint(Schema):
    day: date
    score: float | None
    status: StatusName


class NodeScore(Schema):
    """A node's latest score; `status` is no_data and `day` null when it was never evaluated."""

    day: date | None
    status: StatusName
    actual: float | None
    attainment: float | None
    score: float | None
    health: float | None
    forecast: float | None
    forecast_attainment: float | None
    forecast_status: StatusName | None
    elapsed: float | None
    history: list[ScoreHistoryPoint] = Field(description="Daily scores of the last 30 days, oldest first")


class ScoreMeasure(Schema):
    uid: UUID
    key: str
    name: str
    unit: str
    is_manual: bool


class KeyResultScore(Schema):
    uid: UUID
    key: str
    title: str
    weight: float
    measure: ScoreMeasure
    score: NodeScore


class ObjectiveScore(Schema):
    uid: UUID
    key: str
    title: str
    weight: float
    rolls_up: bool
    owner: str | None = Field(description="The owner's name")
    score: NodeScore
    key_results: list[KeyResultScore]


class PerspectiveScore(Schema):
    key: str | None = Field(description="Null for the objectives that name no perspective")
    name: str
    score: NodeScore
    objectives: list[ObjectiveScore]


class ScorecardOut(Schema):
    subject: ScoreSubject
    period: ScorePeriod | None = Field(description="Null when there is no period yet")
    score: NodeScore
    perspectives: list[PerspectiveScore]


class AlignedObjective(Schema):
    uid: UUID
    key: str
    title: str
    period: str


class AlignmentNodeOut(Schema):
    uid: UUID
    key: str
    title: str
    subject: ScoreSubject
    owner: str | None
    perspective: str | None = Field(description="Perspective key")
    parent: UUID | None = Field(description="The parent's uid when it is in this list")
    aligned_to: AlignedObjective | None = Field(description="A visible parent in another period")
    depth: int = Field(description="0 for roots")
    rolls_up: bool
    weight: float
    children: int
    score: NodeScore


class AlignmentOut(Schema):
    period: ScorePeriod | None
    objectives: list[AlignmentNodeOut] = Field(
        description="The tree in pre-order: every objective follows its parent. An objective whose parent "
                    "is not visible, or in another period, is a root."
    )


class SeriesTarget(Schema):
    target: float | None
    baseline: float | None
    lower: float | None
    upper: float | None
    tolerance: float | None
    on_track: float
    at_risk: float
    cap: float


class SeriesBand(Schema):
    status: StatusName
    lower: float | None = Field(description="Null: unbounded below")
    upper: float | None = Field(description="Null: unbounded above")


class SeriesPoint(Schema):
    ts: datetime = Field(description="The observation's time, or the last one in its bucket")
    value: float | None = Field(description="The value (good / total for ratio measures), or the bucket's mean")
    low: float | None
    high: float | None
    n: int = Field(description="Observations behind this point")
    actual: float | None = Field(description="The period actual up to and including this point")


class SeriesDay(Schema):
    day: date
    actual: float | None
    score: float | None
    health: float | None
    status: StatusName
    forecast: float | None


class SeriesMeasure(Schema):
    uid: UUID
    key: str
    name: str
    unit: str
    polarity: str
    aggregation: str
    tracking: str = Field(description="The effective tracking: linear or steady")
    subject: ScoreSubject


class SeriesOut(Schema):
    measure: SeriesMeasure
    period: ScorePeriod
    target: SeriesTarget | None
    bands: list[SeriesBand] = Field(
        description="The actual's ranges per status at the period's end, in the measure's units. When `paced`, "
                    "status is judged on pace (x = a / f), so at elapsed fraction f each bound sits where "
                    "attainment reaches the threshold times f."
    )
    paced: bool
    observations: int = Field(description="Observations in the period")
    downsampled: bool = Field(description="True when points are per-bucket aggregates (more than 500 observations)")
    bucket_seconds: float | None
    points: list[SeriesPoint]
    latest: NodeScore = Field(description="The latest score, with the forecast A_end and its status")
    history: list[SeriesDay] = Field(description="The daily snapshots, oldest first")


class MyGoalsCheckIn(Schema):
    uid: UUID
    created: datetime
    author: str | None
    key_result: UUID | None
    progress: float | None
    confidence: int | None
    comment: str


class MyObjectiveOut(ObjectiveScore):
    subject: ScoreSubject
    role: Literal["owner", "subject", "contributor"]
    check_ins: list[MyGoalsCheckIn] = Field(description="The latest five")


class MyGoalsGroup(Schema):
    period: ScorePeriod
    state: Literal["current", "upcoming", "past"]
    objectives: list[MyObjectiveOut]


class MyGoalsOut(Schema):
    person: ScoreSubject | None = Field(description="Null when the user is not linked to a person")
    groups: list[MyGoalsGroup]


class StatusCounts(Schema):
    on_track: int
    at_risk: int
    off_track: int
    pending: int
    no_data: int
    total: int


class OverviewUnit(Schema):
    uid: UUID
    key: str
    name: str
    kind: str


class OverviewUnitCounts(Schema):
    unit: OverviewUnit
    counts: StatusCounts
    has_children: bool


class OverviewOut(Schema):
    period: ScorePeriod | None
    unit: OverviewUnit | None = Field(description="The unit whose sub-units are listed (null: several top-level units)")
    own: StatusCounts = Field(description="Objectives of the unit itself, its direct members and what it owns")
    totals: StatusCounts = Field(description="Everything counted in the unit's subtree")
    units: list[OverviewUnitCounts]


# -- rendering ----------------------------------------------------------------------------------------


def _period(period):
    return period and {"key": period.key, "name": period.name, "start": period.start, "end": period.end}


def _subject(subject: Subject):
    return {"uid": subject.uid, "kind": subject.kind, "key": queries.subject_key(subject),
            "name": str(subject.target)}


def _score(score: queries.Score) -> dict:
    return {"day": score.day, "status": score.status, "actual": score.actual, "attainment": score.attainment,
            "score": score.score, "health": score.health, "forecast": score.forecast,
            "forecast_attainment": score.forecast_attainment, "forecast_status": score.forecast_status or None,
            "elapsed": score.elapsed,
            "history": [{"day": day, "score": value, "status": status} for day, value, status in score.history]}


def _key_result(row: queries.KeyResultScore) -> dict:
    kr, m = row.key_result, row.key_result.measure
    return {"uid": kr.uid, "key": kr.key, "title": kr.title, "weight": kr.weight,
            "measure": {"uid": m.uid, "key": m.key, "name": m.name, "unit": m.unit, "is_manual": m.is_manual},
            "score": _score(row.score)}


def _objective(row: queries.ObjectiveScore) -> dict:
    o = row.objective
    return {"uid": o.uid, "key": o.key, "title": o.title, "weight": o.weight, "rolls_up": o.rolls_up,
            "owner": o.owner.name if o.owner else None, "score": _score(row.score),
            "key_results": [_key_result(kr) for kr in row.key_results]}


def _counts(counts: queries.StatusCounts) -> dict:
    return {**{status: counts.get(status) for status in Status.values}, "total": counts.total}


def _unit(unit):
    return unit and {"uid": unit.uid, "key": unit.key, "name": unit.name, "kind": unit.kind}


class _Rows:
    """Latest snapshots whose rows are described (names, keys, parents) after pagination slices them."""

    def __init__(self, user, snapshots):
        self.user, self.snapshots = user, snapshots

    def count(self):
        return self.snapshots.count()

    def __len__(self):
        return self.count()

    def __getitem__(self, item):
        return queries.score_rows(self.user, self.snapshots[item])


# -- endpoints ----------------------------------------------------------------------------------------


@router.get("/scores", response={200: list[ScoreRow], **ERRORS},
            description="The latest snapshot (on or before today) of every node you may see in a period. "
                        "Filters: `subject` (a subject uid), `kind` (node kind), `status`.")
@paginate
def list_scores(request, period: str | None = None,
                subject: UUID | None = None,
                kind: NodeKind | None = None, status: StatusName | None = None):
    chosen = queries.choose_period(request.auth, period, Objective.objects.restrict(request.auth, "view"))
    if chosen is None:
        return _Rows(request.auth, ScoreSnapshot.objects.none())
    subject_obj = get_object_or_404(Subject.objects.restrict(request.auth, "view"), uid=subject) if subject else None
    rows = queries.latest_snapshots(request.auth, chosen, subject=subject_obj, kind=kind, status=status)
    return _Rows(request.auth, rows.order_by("subject_id", "node_kind", "node_id"))


@router.get("/scorecards/{subject_uid}", response={200: ScorecardOut, **ERRORS},
            description="A subject's balanced scorecard: perspectives, their objectives and key results.")
def get_scorecard(request, subject_uid: UUID, period: str | None = None):
    subject = get_object_or_404(Subject.objects.restrict(request.auth, "view"), uid=subject_uid)
    chosen = queries.choose_period(request.auth, period, queries.subject_objectives(request.auth, subject))
    card = queries.scorecard(request.auth, subject, chosen)
    return {
        "subject": _subject(subject), "period": _period(card.period), "score": _score(card.score),
        "perspectives": [
            {"key": block.perspective.key if block.perspective else None,
             "name": block.perspective.name if block.perspective else "No perspective",
             "score": _score(block.score), "objectives": [_objective(row) for row in block.objectives]}
            for block in card.perspectives
        ],
    }


@router.get("/alignment", response={200: AlignmentOut, **ERRORS},
            description="Objectives of a period as a tree, from company objectives down to individual ones.")
def get_alignment(request, period: str | None = None):
    chosen = queries.choose_period(request.auth, period, Objective.objects.restrict(request.auth, "view"))
    if chosen is None:
        return {"period": None, "objectives": []}
    nodes = []
    for row in queries.flatten(queries.alignment(request.auth, chosen)):
        o, elsewhere = row.objective, row.parent_elsewhere
        nodes.append({
            "uid": o.uid, "key": o.key, "title": o.title, "subject": _subject(o.subject),
            "owner": o.owner.name if o.owner else None, "perspective": o.perspective.key if o.perspective else None,
            "parent": o.parent.uid if row.depth else None,
            "aligned_to": elsewhere and {"uid": elsewhere.uid, "key": elsewhere.key, "title": elsewhere.title,
                                         "period": elsewhere.period.key},
            "depth": row.depth, "rolls_up": o.rolls_up, "weight": o.weight, "children": len(row.children),
            "score": _score(row.score),
        })
    return {"period": _period(chosen), "objectives": nodes}


@router.get("/measures/{uid}/series", response={200: SeriesOut, **ERRORS},
            description="A measure in a period: observations (per-bucket aggregates beyond 500), target, "
                        "threshold bands, the latest score with its forecast, and the daily snapshots.")
def get_series(request, uid: UUID, period: str | None = None):
    measure = get_object_or_404(Measure.objects.restrict(request.auth, "view").select_related(
        "subject__person", "subject__org_unit", "subject__service", "subject__process"), uid=uid)
    chosen = (queries.period_by_key(request.auth, period) if period
              else queries.measure_default_period(request.auth, measure))
    if chosen is None:
        raise ValidationError({"period": ["There is no period yet."]})
    series = queries.measure_series(request.auth, measure, chosen)
    target = series.target
    return {
        "measure": {"uid": measure.uid, "key": measure.key, "name": measure.name, "unit": measure.unit,
                    "polarity": measure.polarity, "aggregation": measure.aggregation,
                    "tracking": measure.effective_tracking, "subject": _subject(measure.subject)},
        "period": _period(chosen),
        "target": target and {name: getattr(target, name) for name in SeriesTarget.model_fields},
        "bands": [{"status": b.status, "lower": b.lower, "upper": b.upper} for b in series.bands],
        "paced": series.paced, "observations": series.observations, "downsampled": series.downsampled,
        "bucket_seconds": series.bucket_seconds,
        "points": [p.__dict__ for p in series.points],
        "latest": _score(series.latest),
        "history": [{"day": s.day, "actual": s.actual, "score": s.score, "health": s.health, "status": s.status,
                     "forecast": s.forecast} for s in series.history],
    }


@router.get("/my-goals", response={200: MyGoalsOut, **ERRORS},
            description="Objectives owned by or about the signed-in person and those they contribute to, "
                        "grouped by period (current first).")
def get_my_goals(request, period: str | None = None):
    chosen = queries.period_by_key(request.auth, period) if period else None
    person = getattr(request.auth, "person", None)
    groups = []
    for group in queries.my_goals(request.auth, chosen):
        groups.append({"period": _period(group.period), "state": group.state, "objectives": [
            {**_objective(row), "subject": _subject(row.objective.subject), "role": row.role,
             "check_ins": [{"uid": c.uid, "created": c.created, "author": c.author.get_username() if c.author else None,
                            "key_result": c.key_result.uid if c.key_result else None, "progress": c.progress,
                            "confidence": c.confidence, "comment": c.comment} for c in row.check_ins]}
            for row in group.objectives
        ]})
    subject = getattr(person, "subject", None) if person else None
    return {"person": _subject(subject) if subject else None, "groups": groups}


@router.get("/overview", response={200: OverviewOut, **ERRORS},
            description="Objective statuses per org unit, counted over each unit's subtree (its own objectives, "
                        "its people's, its services' and processes'). `unit` (an org unit key) drills down into "
                        "that unit's sub-units; the default is the company's.")
def get_overview(request, period: str | None = None,
                 unit: str | None = None):
    unit_obj = queries.unit_by_key(request.auth, unit) if unit else None
    chosen = queries.choose_period(request.auth, period, Objective.objects.restrict(request.auth, "view"))
    data = queries.overview(request.auth, chosen, unit_obj)
    return {
        "period": _period(chosen), "unit": _unit(data.unit), "own": _counts(data.own), "totals": _counts(data.totals),
        "units": [{"unit": _unit(row.unit), "counts": _counts(row.counts), "has_children": row.has_children}
                  for row in data.rows],
    }
