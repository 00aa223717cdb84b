"""Evaluation: read one aggregate row per measure and period, run the engine, store snapshots.

`evaluate()` scores every measure that has a target in an evaluated period or
backs a key result there, then rolls up key results -> objectives -> (parent
objectives that `rolls_up`) -> perspectives -> scorecards, per subject and period,
and stores the day's snapshot of every node.

An objective counts in its own subject's perspective (or directly in the
scorecard when it has none); when it `rolls_up`, it counts in its parent
objective, and then in its own subject's scorecard only if the parent belongs to
another subject (otherwise it would count twice there). Incremental evaluation
(`measure_ids=`) re-scores only the chains the measures feed; nodes outside that
chain are read back from their latest snapshot.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from northstar.goals.models import KeyResult, Objective, Period, Perspective
from northstar.measures.aggregates import aggregate_observations
from northstar.measures.models import Measure, MeasureAggregate, Target
from northstar.scoring import engine
from northstar.scoring.models import ScoreSnapshot

Kind = ScoreSnapshot.NodeKind
AGGREGATE_FIELDS = ("n", "sum", "min", "max", "last_value", "sum_good", "sum_total", "sum_t", "sum_tt", "sum_ty")
TARGET_FIELDS = ("target", "baseline", "lower", "upper", "tolerance", "cap", "on_track", "at_risk")
# A closed period is evaluated once more on the day after it ends, to record its final state.
RECENTLY_CLOSED = timedelta(days=1)


@dataclass
class NodeResult:
    kind: str
    node_id: int
    key: str
    name: str
    subject_id: int
    period_id: int
    actual: float | None = None
    attainment: float | None = None
    score: float | None = None
    health: float | None = None
    status: str = "no_data"
    forecast: float | None = None
    forecast_attainment: float | None = None
    forecast_status: str = ""
    elapsed: float | None = None
    parent: tuple[str, int] | None = None  # (kind, node_id) of the node it counts in, for display


@dataclass
class Evaluation:
    as_of: datetime
    periods: list[Period]
    nodes: list[NodeResult] = field(default_factory=list)
    stored: int = 0


CHUNK = 900  # bound variables per IN list: well inside every SQLite build's limit


def chunks(ids, size: int = CHUNK):
    ids = sorted(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def periods_to_evaluate(t: datetime, keys=None) -> list[Period]:
    rows = Period.objects.all()
    if keys:
        return list(rows.filter(key__in=keys))
    day = timezone.localdate(t)
    return list(rows.filter(start__lte=day, end__gte=timezone.localdate(t - RECENTLY_CLOSED)))


# -- measures ----------------------------------------------------------------------------------


@dataclass
class MeasureRows:
    """The (measure, period) pairs being scored, as parallel columns."""

    measure_ids: np.ndarray
    period_ids: np.ndarray
    index: dict[tuple[int, int], int]


def _pairs(periods: list[Period], objectives: list[Objective], measure_ids) -> MeasureRows:
    period_ids = [p.pk for p in periods]
    targets = Target.objects.filter(period_id__in=period_ids, measure__is_active=True)
    if measure_ids is None:
        pairs = set(targets.values_list("measure_id", "period_id"))
    else:
        pairs = set()
        for ids in chunks(measure_ids):
            pairs.update(targets.filter(measure_id__in=ids).values_list("measure_id", "period_id"))
    objective_periods = {o.pk: o.period_id for o in objectives}
    for ids in chunks(objective_periods):
        pairs.update((m, objective_periods[o]) for o, m in
                     KeyResult.objects.filter(objective_id__in=ids).values_list("objective_id", "measure_id"))
    ordered = sorted(pairs)
    return MeasureRows(
        measure_ids=np.array([m for m, _p in ordered], dtype=np.int64),
        period_ids=np.array([p for _m, p in ordered], dtype=np.int64),
        index={pair: i for i, pair in enumerate(ordered)},
    )


def _load_aggregates(rows: MeasureRows, periods: dict[int, Period], t: datetime) -> engine.Aggregates:
    records: list[dict | None] = [None] * len(rows.index)
    stale: dict[int, list[int]] = defaultdict(list)  # period -> measures with observations at or after t
    for period_id in {int(p) for p in rows.period_ids}:
        measure_ids = rows.measure_ids[rows.period_ids == period_id]
        query = MeasureAggregate.objects.filter(period_id=period_id)
        if len(measure_ids) < 5000:
            query = query.filter(measure_id__in=[int(m) for m in measure_ids])
        for values in query.values("measure_id", "last_ts", *AGGREGATE_FIELDS).iterator(chunk_size=10000):
            position = rows.index.get((values["measure_id"], period_id))
            if position is None:
                continue
            if values["last_ts"] is not None and values["last_ts"] >= t:
                stale[period_id].append(values["measure_id"])
            else:
                records[position] = values
    # As of a past instant: the kept aggregates include later observations; recount those from raw rows.
    for period_id, measure_ids in stale.items():
        start, end = periods[period_id].bounds()
        recount = aggregate_observations(measure_ids, start, min(end, t), start)
        for measure_id, values in recount.items():
            records[rows.index[(measure_id, period_id)]] = {**values, "last": values.get("last_value")}
    return engine.Aggregates.from_records(records)


def _score_measures(rows: MeasureRows, periods: dict[int, Period], t: datetime):
    measures, targets = {}, {}
    for ids in chunks({int(i) for i in rows.measure_ids}):
        measures.update((m["id"], m) for m in Measure.objects.filter(id__in=ids)
                        .values("id", "key", "name", "subject_id", "aggregation", "polarity", "tracking"))
        targets.update(((v["measure_id"], v["period_id"]), v) for v in
                       Target.objects.filter(period_id__in=list(periods), measure_id__in=ids)
                       .values("measure_id", "period_id", *TARGET_FIELDS))
    size = len(rows.index)
    columns = {name: np.full(size, np.nan) for name in TARGET_FIELDS}
    columns["cap"][:] = engine.DEFAULT_CAP
    columns["on_track"][:] = engine.DEFAULT_ON_TRACK
    columns["at_risk"][:] = engine.DEFAULT_AT_RISK
    aggregation, polarity, tracking = [], [], []
    starts, ends = np.empty(size), np.empty(size)
    bounds = {p.pk: [moment.timestamp() for moment in p.bounds()] for p in periods.values()}
    for (measure_id, period_id), i in rows.index.items():
        measure = measures[measure_id]
        aggregation.append(measure["aggregation"])
        polarity.append(measure["polarity"])
        tracking.append(measure["tracking"] or None)
        starts[i], ends[i] = bounds[period_id]
        target = targets.get((measure_id, period_id))
        if target:
            for name in TARGET_FIELDS:
                if target[name] is not None:
                    columns[name][i] = target[name]
    tracking_codes = [-1 if value is None else engine.Tracking[value.upper()] for value in tracking]
    scores = engine.evaluate_measures(
        _load_aggregates(rows, periods, t), aggregation=aggregation, polarity=polarity, start=starts, end=ends,
        t=t.timestamp(), tracking=tracking_codes, **columns,
    ) if size else None
    return measures, scores


# -- the tree ----------------------------------------------------------------------------------


class _Nodes:
    """Objectives, perspectives and scorecards in one index space, with their edges."""

    def __init__(self):
        self.keys: list[tuple] = []
        self.index: dict[tuple, int] = {}
        self.on_track: list[float] = []
        self.at_risk: list[float] = []
        self.rule: list[int] = []
        self.edges: list[tuple[int, int, float]] = []  # (child node, parent node, weight)
        self.linked: set[int] = set()  # perspective nodes already linked to their scorecard

    def add(self, key: tuple, on_track=1.0, at_risk=0.8, rule="weighted") -> int:
        if key not in self.index:
            self.index[key] = len(self.keys)
            self.keys.append(key)
            self.on_track.append(on_track)
            self.at_risk.append(at_risk)
            self.rule.append(engine.StatusRule[rule.upper()])
        return self.index[key]


def _affected_objectives(measure_ids, periods: list[Period]) -> set[int]:
    """Objectives fed by these measures, and every objective they roll up into."""
    period_ids = [p.pk for p in periods]
    found = set()
    for ids in chunks(measure_ids):
        found.update(Objective.objects.filter(is_active=True, period_id__in=period_ids,
                                              key_results__measure_id__in=ids).values_list("pk", flat=True))
    frontier = set(found)
    while frontier:
        parents = set()
        for ids in chunks(frontier):
            parents.update(Objective.objects.filter(pk__in=ids, rolls_up=True, parent__is_active=True)
                           .values_list("parent_id", flat=True))
        parents -= found
        found |= parents
        frontier = parents
    return found


def evaluate(*, as_of: datetime | None = None, period_keys=None, measure_ids=None, store: bool = True) -> Evaluation:
    """Score everything in the periods to evaluate (or only the chains fed by `measure_ids`)."""
    t = as_of or timezone.now()
    periods = periods_to_evaluate(t, period_keys)
    result = Evaluation(as_of=t, periods=periods)
    if not periods:
        return result
    by_id = {p.pk: p for p in periods}
    incremental = measure_ids is not None
    objectives_qs = Objective.objects.filter(is_active=True).select_related("perspective")
    if incremental:
        chosen = _affected_objectives(measure_ids, periods)
        objectives = [o for ids in chunks(chosen) for o in objectives_qs.filter(pk__in=ids)]
    else:
        objectives = list(objectives_qs.filter(period_id__in=list(by_id)))
    # Parents may sit in other periods (a quarter's objective aligned to the year's).
    for extra in Objective.objects.filter(pk__in={o.parent_id for o in objectives if o.rolls_up and o.parent_id}) \
            .exclude(pk__in=[o.pk for o in objectives]).select_related("perspective"):
        by_id.setdefault(extra.period_id, extra.period)
    rows = _pairs(list(by_id.values()), objectives, measure_ids)
    measures, scores = _score_measures(rows, by_id, t)

    nodes = _Nodes()
    for o in objectives:
        nodes.add((Kind.OBJECTIVE, o.pk), o.on_track, o.at_risk, o.status_rule)
    perspectives = {p.pk: p for p in Perspective.objects.all()}
    objective_ids = {o.pk for o in objectives}
    subject_of = {o.pk: o.subject_id for o in objectives}
    for o in objectives:
        child = nodes.index[(Kind.OBJECTIVE, o.pk)]
        if o.rolls_up and o.parent_id in objective_ids:
            nodes.edges.append((child, nodes.index[(Kind.OBJECTIVE, o.parent_id)], o.weight))
            if subject_of[o.parent_id] == o.subject_id:
                continue  # it counts in its subject's scorecard through the parent, not twice
        _link_to_scorecard(nodes, child, o.subject_id, o.perspective_id, o.period_id, o.weight, perspectives)

    frozen = _frozen_children(nodes, objectives, subject_of, incremental, perspectives, t)
    leaves = scores.leaves() if scores is not None else engine.Leaves(*(np.zeros(0),) * 4)
    leaf_edges = []
    key_results = [kr for ids in chunks(objective_ids)
                   for kr in KeyResult.objects.filter(objective_id__in=ids).select_related("objective")]
    for kr in key_results:
        position = rows.index.get((kr.measure_id, kr.objective.period_id))
        if position is not None:
            leaf_edges.append((position, nodes.index[(Kind.OBJECTIVE, kr.objective_id)], kr.weight))
    offset = len(leaves)
    if frozen.rows:
        leaves = engine.Leaves.concat(leaves, frozen.leaves())
        leaf_edges.extend((offset + i, parent, weight) for i, (parent, weight) in enumerate(frozen.links))

    rolled = engine.roll_up_tree(
        len(nodes.keys), leaves=leaves,
        leaf_edges=_edges(leaf_edges), node_edges=_edges(nodes.edges),
        on_track=np.array(nodes.on_track), at_risk=np.array(nodes.at_risk), status_rule=np.array(nodes.rule),
    ) if nodes.keys else None

    result.nodes = _results(rows, measures, scores, key_results, objectives, nodes, rolled, perspectives, by_id, t)
    if store:
        result.stored = _store(result.nodes, t, replace_all=not incremental, periods=list(by_id.values()))
    return result


def _link_to_scorecard(nodes: _Nodes, child: int, subject_id: int, perspective_id, period_id: int, weight: float,
                       perspectives: dict) -> None:
    scorecard = nodes.add((Kind.SCORECARD, subject_id, period_id))
    if perspective_id is None:
        nodes.edges.append((child, scorecard, weight))
        return
    perspective = nodes.add((Kind.PERSPECTIVE, perspective_id, subject_id, period_id))
    nodes.edges.append((child, perspective, weight))
    if perspective not in nodes.linked:
        nodes.linked.add(perspective)
        nodes.edges.append((perspective, scorecard, perspectives[perspective_id].weight))


@dataclass
class _Frozen:
    rows: list[tuple[float | None, float | None, str]] = field(default_factory=list)  # score, health, status
    links: list[tuple[int, float]] = field(default_factory=list)  # (parent node, weight)

    def leaves(self) -> engine.Leaves:
        score = np.array([np.nan if s is None else s for s, _h, _st in self.rows])
        health = np.array([np.nan if h is None else h for _s, h, _st in self.rows])
        status = np.array([engine.Status[st.upper()] for _s, _h, st in self.rows], dtype=np.int8)
        return engine.Leaves(score, health, status, np.full(len(self.rows), engine.MAX_CAP))


def _frozen_children(nodes: _Nodes, objectives, subject_of: dict[int, int], incremental: bool, perspectives,
                     t: datetime) -> _Frozen:
    """Incremental runs: children of re-scored nodes that were not re-scored, from their latest snapshots."""
    frozen = _Frozen()
    objective_ids = set(subject_of)
    if not incremental or not objectives:
        return frozen
    subjects = {(o.subject_id, o.period_id) for o in objectives}
    siblings = _siblings(objective_ids, subjects)
    latest = _latest_snapshots(Kind.OBJECTIVE, [o.pk for o in siblings], t)
    for o in siblings:
        values = latest.get(o.pk, (None, None, "no_data"))
        parents = []
        through_parent = False
        if o.rolls_up and o.parent_id in objective_ids:
            parents.append((nodes.index[(Kind.OBJECTIVE, o.parent_id)], o.weight))
            through_parent = subject_of[o.parent_id] == o.subject_id
        if (o.subject_id, o.period_id) in subjects and not through_parent:
            key = ((Kind.PERSPECTIVE, o.perspective_id, o.subject_id, o.period_id) if o.perspective_id
                   else (Kind.SCORECARD, o.subject_id, o.period_id))
            if key not in nodes.index:
                _link_perspective(nodes, key, o, perspectives)
            parents.append((nodes.index[key], o.weight))
        for parent in parents:
            frozen.rows.append(values)
            frozen.links.append(parent)
    return frozen


def _siblings(objective_ids: set[int], subjects: set[tuple[int, int]]) -> list[Objective]:
    """Objectives outside the re-scored set that roll up into it or share a (subject, period) with it.

    Two indexed lookups filtered in Python: OR-ing one condition per pair is slow on
    SQLite and fails beyond 1,000 pairs.
    """
    found = set()
    for ids in chunks(objective_ids):
        found.update(Objective.objects.filter(is_active=True, rolls_up=True, parent_id__in=ids)
                     .values_list("pk", flat=True))
    for ids in chunks({s for s, _p in subjects}):
        found.update(pk for pk, s, p in Objective.objects.filter(is_active=True, subject_id__in=ids)
                     .values_list("pk", "subject_id", "period_id") if (s, p) in subjects)
    found -= objective_ids
    return [o for ids in chunks(found) for o in Objective.objects.filter(pk__in=ids)]


def _link_perspective(nodes: _Nodes, key: tuple, objective, perspectives) -> None:
    index = nodes.add(key)
    if key[0] == Kind.PERSPECTIVE and index not in nodes.linked:
        nodes.linked.add(index)
        scorecard = nodes.add((Kind.SCORECARD, objective.subject_id, objective.period_id))
        nodes.edges.append((index, scorecard, perspectives[objective.perspective_id].weight))


def _latest_snapshots(kind: str, node_ids: list[int], t: datetime) -> dict[int, tuple]:
    """(score, health, status) of each node's latest snapshot on or before the day of t."""
    day = timezone.localdate(t)
    latest: dict[int, tuple] = {}
    for ids in chunks(node_ids):
        rows = (ScoreSnapshot.objects.filter(node_kind=kind, node_id__in=ids, day__lte=day)
                .order_by("node_id", "-day").values_list("node_id", "score", "health", "status"))
        for node_id, score, health, status in rows:
            latest.setdefault(node_id, (score, health, status))
    return latest


def _edges(triples: list[tuple[int, int, float]]) -> engine.Edges:
    if not triples:
        return engine.Edges.none()
    child, parent, weight = zip(*triples, strict=True)
    return engine.Edges(child=np.array(child), parent=np.array(parent), weight=np.array(weight, dtype=float))


# -- results and snapshots ---------------------------------------------------------------------


def _results(rows, measures, scores, key_results, objectives, nodes, rolled, perspectives, periods, t):
    out = []
    slug = engine.STATUS_SLUGS
    for (measure_id, period_id), i in rows.index.items():
        m = measures[measure_id]
        out.append(NodeResult(
            kind=Kind.MEASURE, node_id=measure_id, key=m["key"], name=m["name"], subject_id=m["subject_id"],
            period_id=period_id, actual=_number(scores.actual[i]), attainment=_number(scores.attainment[i]),
            score=_number(scores.score[i]), health=_number(scores.health[i]), status=slug[scores.status[i]],
            forecast=_number(scores.forecast[i]), forecast_attainment=_number(scores.forecast_attainment[i]),
            forecast_status=slug[scores.forecast_status[i]], elapsed=_number(scores.elapsed[i]),
        ))
    measure_results = {(r.node_id, r.period_id): r for r in out}
    by_objective = {o.pk: o for o in objectives}
    for kr in key_results:
        source = measure_results.get((kr.measure_id, kr.objective.period_id))
        if source is None:
            continue
        out.append(NodeResult(**{**source.__dict__, "kind": Kind.KEY_RESULT, "node_id": kr.pk, "key": kr.key,
                                 "name": kr.title, "subject_id": kr.objective.subject_id,
                                 "parent": (Kind.OBJECTIVE, kr.objective_id)}))
    if rolled is None:
        return out
    elapsed = {p.pk: _number(np.ravel(engine.elapsed_fraction(*(b.timestamp() for b in p.bounds()), t.timestamp()))[0])
               for p in periods.values()}
    names = {p.pk: p.name for p in perspectives.values()}
    for key, i in nodes.index.items():
        common = {"score": _number(rolled.progress[i]), "health": _number(rolled.health[i]),
                  "status": slug[rolled.status[i]]}
        if key[0] == Kind.OBJECTIVE:
            o = by_objective[key[1]]
            parent = (Kind.OBJECTIVE, o.parent_id) if o.rolls_up and o.parent_id else None
            out.append(NodeResult(kind=Kind.OBJECTIVE, node_id=o.pk, key=o.key, name=o.title,
                                  subject_id=o.subject_id, period_id=o.period_id, elapsed=elapsed.get(o.period_id),
                                  parent=parent, **common))
        elif key[0] == Kind.PERSPECTIVE:
            _kind, perspective_id, subject_id, period_id = key
            out.append(NodeResult(kind=Kind.PERSPECTIVE, node_id=perspective_id,
                                  key=perspectives[perspective_id].key, name=names[perspective_id],
                                  subject_id=subject_id, period_id=period_id, elapsed=elapsed.get(period_id),
                                  parent=(Kind.SCORECARD, subject_id), **common))
        else:
            _kind, subject_id, period_id = key
            out.append(NodeResult(kind=Kind.SCORECARD, node_id=subject_id, key=str(subject_id), name="Scorecard",
                                  subject_id=subject_id, period_id=period_id, elapsed=elapsed.get(period_id),
                                  **common))
    return out


SNAPSHOT_FIELDS = ("actual", "attainment", "score", "health", "status", "forecast", "forecast_attainment",
                   "forecast_status", "elapsed")


def _store(results: list[NodeResult], t: datetime, *, replace_all: bool, periods: list[Period]) -> int:
    """Replace the day's snapshots of these nodes (all of the periods' on a full run).

    Plain tuples through executemany: model instances and bulk_create cost more than
    the evaluation itself at 300,000 nodes.
    """
    day = timezone.localdate(t)
    ops = connection.ops
    day_value, as_of = ops.adapt_datefield_value(day), ops.adapt_datetimefield_value(t)
    rows = [(r.kind, r.node_id, r.subject_id, r.period_id, day_value, as_of,
             *(getattr(r, name) for name in SNAPSHOT_FIELDS)) for r in results]
    q = ops.quote_name
    columns = ("node_kind", "node_id", "subject_id", "period_id", "day", "as_of", *SNAPSHOT_FIELDS)
    sql = (f"INSERT INTO {q(ScoreSnapshot._meta.db_table)} ({', '.join(q(c) for c in columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    with transaction.atomic():
        today = ScoreSnapshot.objects.filter(day=day)
        if replace_all:
            today.filter(period__in=periods).delete()
        else:
            # Keyed by subject too: a perspective's node id is shared by every subject's scorecard.
            by_kind = defaultdict(set)
            for r in results:
                by_kind[(r.kind, r.subject_id)].add(r.node_id)
            for (kind, subject_id), ids in by_kind.items():
                for chunk in chunks(ids):
                    today.filter(node_kind=kind, subject_id=subject_id, node_id__in=chunk).delete()
        with connection.cursor() as cursor:
            for start in range(0, len(rows), 50_000):
                cursor.executemany(sql, rows[start:start + 50_000])
    return len(rows)
