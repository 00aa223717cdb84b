"""Evaluation: read one aggregate row per measure and period, run the engine, store snapshots.

`evaluate()` scores every measure that has a target in an evaluated period or
backs a key result there, then rolls up key results -> objectives -> (parent
objectives that `rolls_up`) -> perspectives -> scorecards, per subject and period,
and stores the day's snapshot of every node.

An objective counts in its own subject's perspective (or directly in the
scorecard when it has none); when it `rolls_up`, it counts in its parent
objective, and then in its own subject's scorecard only if the parent belongs to
another subject (otherwise it would count twice there). Incremental evaluation
(`measure_ids=`) re-scores only the chains the measures feed; objectives outside
that chain which count in it are read back from their latest snapshot.

Columnar from end to end, because a full run covers hundreds of thousands of
measures: every input is read by a few plain SQL queries straight into numpy
columns (no model instances, no dict per row), joined with sorted-key lookups,
scored by the engine, and written back from the columns. `NodeResult`s, with
keys and names, are built only when `Evaluation.nodes` is read (the CLI, the
JSON report, tests).
"""

from __future__ import annotations

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
VALUE_FIELDS = ("actual", "attainment", "score", "health", "forecast", "forecast_attainment", "elapsed")
# A closed period is evaluated once more on the day after it ends, to record its final state.
RECENTLY_CLOSED = timedelta(days=1)
CHUNK = 900  # bound variables per IN list: well inside every SQLite build's limit
# Beyond this many ids, read the whole table (filtered by period) and select in numpy: one scan
# beats hundreds of IN-list queries.
WHOLE_TABLE = 20_000
NO_ID = -1


def chunks(ids, size: int = CHUNK):
    ids = sorted(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def periods_to_evaluate(t: datetime, keys=None) -> list[Period]:
    rows = Period.objects.all()
    if keys:
        return list(rows.filter(key__in=keys))
    day = timezone.localdate(t)
    return list(rows.filter(start__lte=day, end__gte=timezone.localdate(t - RECENTLY_CLOSED)))


# -- results ------------------------------------------------------------------------------------


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
class NodeBlock:
    """Results of one kind of node, as columns: one element per node.

    Values are NaN where undefined; statuses are engine.Status codes (forecast_status
    -1 where there is none: roll-ups have no forecast); parent_id is NO_ID where the
    node counts in nothing shown.
    """

    kind: str
    node_id: np.ndarray
    subject_id: np.ndarray
    period_id: np.ndarray
    values: dict[str, np.ndarray]
    status: np.ndarray
    forecast_status: np.ndarray
    parent_kind: str | None = None
    parent_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.node_id)

    def take(self, mask: np.ndarray) -> NodeBlock:
        return NodeBlock(self.kind, self.node_id[mask], self.subject_id[mask], self.period_id[mask],
                         {name: column[mask] for name, column in self.values.items()}, self.status[mask],
                         self.forecast_status[mask], self.parent_kind,
                         None if self.parent_id is None else self.parent_id[mask])


@dataclass
class Evaluation:
    as_of: datetime
    periods: list[Period]
    blocks: list[NodeBlock] = field(default_factory=list)
    stored: int = 0
    _nodes: list[NodeResult] | None = None

    def __len__(self) -> int:
        return sum(len(block) for block in self.blocks)

    def counts(self) -> dict[str, int]:
        return {block.kind: len(block) for block in self.blocks if len(block)}

    @property
    def nodes(self) -> list[NodeResult]:
        """Every result as a NodeResult with its key and name (built on first use: costly for big runs)."""
        if self._nodes is None:
            self._nodes = _node_results(self.blocks)
        return self._nodes


# -- reading columns ----------------------------------------------------------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _fetch(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _fetch_in(sql: str, params, column: str, ids) -> list[tuple]:
    """`sql` (ending in a WHERE condition) AND `column` IN each bounded chunk of ids."""
    rows: list[tuple] = []
    for chunk in chunks(ids):
        rows.extend(_fetch(f"{sql} AND {column} IN ({', '.join(['%s'] * len(chunk))})", [*params, *chunk]))
    return rows


def _in(values) -> str:
    return ", ".join(["%s"] * len(values))


class _Lookup:
    """Positions of keys in a set of int64 keys, by binary search."""

    def __init__(self, keys: np.ndarray):
        self.order = np.argsort(keys, kind="stable")
        self.sorted = keys[self.order]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key, or -1 when absent."""
        if not len(self.sorted):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.searchsorted(self.sorted, keys).clip(max=len(self.sorted) - 1)
        return np.where(self.sorted[at] == keys, self.order[at], -1)


# -- objectives ---------------------------------------------------------------------------------

OBJECTIVE_COLUMNS = ("id", "subject_id", "period_id", "parent_id", "rolls_up", "weight", "perspective_id",
                     "on_track", "at_risk", "status_rule")


def _objective_columns(alias: str = "") -> str:
    """OBJECTIVE_COLUMNS as numbers: NULL parent and perspective as NO_ID, the status rule as its code."""
    a = f"{alias}." if alias else ""
    return (f"{a}id, {a}subject_id, {a}period_id, COALESCE({a}parent_id, {NO_ID}), {a}rolls_up, {a}weight, "
            f"COALESCE({a}perspective_id, {NO_ID}), {a}on_track, {a}at_risk, "
            f"{_code_sql(a + 'status_rule', _slugs(engine.StatusRule))}")


@dataclass
class _Objectives:
    id: np.ndarray
    subject: np.ndarray
    period: np.ndarray
    parent: np.ndarray
    rolls_up: np.ndarray
    weight: np.ndarray
    perspective: np.ndarray
    on_track: np.ndarray
    at_risk: np.ndarray
    rule: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> _Objectives:
        table = _numeric(rows, len(OBJECTIVE_COLUMNS))
        table = table[np.unique(table[:, 0], return_index=True)[1]]  # one row per objective, by id
        ints = table.astype(np.int64)
        return cls(id=ints[:, 0], subject=ints[:, 1], period=ints[:, 2], parent=ints[:, 3],
                   rolls_up=ints[:, 4] == 1, weight=table[:, 5], perspective=ints[:, 6], on_track=table[:, 7],
                   at_risk=table[:, 8], rule=ints[:, 9])

    def __len__(self) -> int:
        return len(self.id)


def _objective_sql() -> str:
    return f"SELECT {_objective_columns()} FROM {_table(Objective)} WHERE is_active = %s"


def _with_parents(rows: list[tuple]) -> list[tuple]:
    """Add the active parents (in any period) that these objectives roll up into, to the top."""
    have = {row[0] for row in rows}
    frontier = {row[3] for row in rows if row[4] and row[3] != NO_ID} - have
    while frontier:
        found = _fetch_in(_objective_sql(), [True], "id", frontier)
        rows.extend(found)
        have.update(row[0] for row in found)
        frontier = {row[3] for row in found if row[4] and row[3] != NO_ID} - have
    return rows


def _all_objectives(period_ids: list[int]) -> _Objectives:
    rows = _fetch(f"{_objective_sql()} AND period_id IN ({_in(period_ids)})", [True, *period_ids])
    return _Objectives.from_rows(_with_parents(rows))


def _affected_objectives(measure_ids, period_ids: list[int]) -> _Objectives:
    """Active objectives in the periods fed by these measures' key results, and every objective they roll up into.

    One recursive query per chunk of measures: a chain is walked in the database, not level by level.
    CROSS JOIN makes SQLite start from the key results of these measures (its planner would
    otherwise scan the period's objectives); PostgreSQL reads it as a plain join.
    """
    kr, o = _table(KeyResult), _table(Objective)
    columns = _objective_columns("o")
    rows = []
    for chunk in chunks(measure_ids):
        rows.extend(_fetch(
            f"WITH RECURSIVE chain(id) AS ("
            f"SELECT kr.objective_id FROM {kr} kr CROSS JOIN {o} o WHERE o.id = kr.objective_id AND o.is_active = %s "
            f"AND o.period_id IN ({_in(period_ids)}) AND kr.measure_id IN ({_in(chunk)}) "
            f"UNION SELECT o.parent_id FROM {o} o JOIN chain ON o.id = chain.id JOIN {o} p ON p.id = o.parent_id "
            f"WHERE o.rolls_up = %s AND p.is_active = %s) "
            f"SELECT {columns} FROM {o} o WHERE o.id IN (SELECT id FROM chain)",
            [True, *period_ids, *chunk, True, True]))
    return _Objectives.from_rows(rows)


def _siblings(members: _Objectives) -> _Objectives:
    """Active objectives outside `members` that roll up into one of them or share a (subject, period) with one.

    Two indexed lookups filtered here: OR-ing one condition per pair is slow on SQLite
    and fails beyond 1,000 pairs.
    """
    rows = _fetch_in(f"{_objective_sql()} AND rolls_up = %s", [True, True], "parent_id", members.id.tolist())
    pairs = set(zip(members.subject.tolist(), members.period.tolist(), strict=True))
    rows.extend(row for row in _fetch_in(_objective_sql(), [True], "subject_id", {s for s, _p in pairs})
                if (row[1], row[2]) in pairs)
    member_ids = set(members.id.tolist())
    return _Objectives.from_rows([row for row in rows if row[0] not in member_ids])


# -- measures -----------------------------------------------------------------------------------


@dataclass
class _Pairs:
    """The (measure, period) pairs being scored, sorted by key = measure * stride + period."""

    measure: np.ndarray
    period: np.ndarray
    stride: int

    @classmethod
    def of(cls, measure: np.ndarray, period: np.ndarray, stride: int) -> _Pairs:
        keys = np.unique(measure * stride + period)
        return cls(measure=keys // stride, period=keys % stride, stride=stride)

    def __len__(self) -> int:
        return len(self.measure)

    def find(self, measure: np.ndarray, period: np.ndarray) -> np.ndarray:
        keys = self.measure * self.stride + self.period
        return _Lookup(keys).find(np.asarray(measure, dtype=np.int64) * self.stride + period)


def _rows_for_measures(sql: str, params, column: str, measure_ids: np.ndarray) -> list[tuple]:
    """Rows of `sql` for these measures: IN lists when few, the whole (period-filtered) result when many."""
    if len(measure_ids) > WHOLE_TABLE:
        return _fetch(sql, params)
    return _fetch_in(sql, params, column, set(measure_ids.tolist()))


def _code_sql(column: str, names) -> str:
    """SQL mapping a text column to the position of its value in `names` (-1 otherwise): numbers come back
    from the database, so whole result sets become one numpy array."""
    cases = " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(names))
    return f"CASE {column} {cases} ELSE -1 END"


def _slugs(codes: type[engine._Code]) -> list[str]:
    return [member.slug for member in sorted(codes, key=int)]


def _numeric(rows: list[tuple], width: int) -> np.ndarray:
    """Rows of numbers as one (n, width) float64 array; NULL becomes NaN (ids stay exact below 2**53)."""
    return np.array(rows, dtype=np.float64).reshape(-1, width)


MEASURE_COLUMNS = ("id", "subject_id", "is_active", "aggregation", "polarity", "tracking")


def _measures(ids: np.ndarray) -> dict[str, np.ndarray]:
    """These measures' columns (MEASURE_COLUMNS), codes for the engine; tracking -1 = the aggregation's default."""
    sql = (f"SELECT id, subject_id, is_active, {_code_sql('aggregation', _slugs(engine.Aggregation))}, "
           f"{_code_sql('polarity', _slugs(engine.Polarity))}, {_code_sql('tracking', _slugs(engine.Tracking))} "
           f"FROM {_table(Measure)} WHERE 1 = 1")
    table = _numeric(_rows_for_measures(sql, [], "id", ids), len(MEASURE_COLUMNS)).astype(np.int64)
    return dict(zip(MEASURE_COLUMNS, table.T, strict=True))


def _targets(period_ids: list[int], measure_ids: np.ndarray | None) -> np.ndarray:
    """(measure, period, *TARGET_FIELDS) rows of the periods' targets (of these measures only, when given)."""
    sql = (f"SELECT measure_id, period_id, {', '.join(TARGET_FIELDS)} FROM {_table(Target)} "
           f"WHERE period_id IN ({_in(period_ids)})")
    rows = _fetch(sql, period_ids) if measure_ids is None else \
        _rows_for_measures(sql, period_ids, "measure_id", measure_ids)
    return _numeric(rows, 2 + len(TARGET_FIELDS))


def _score_measures(pairs: _Pairs, measures: dict[str, np.ndarray], targets: np.ndarray,
                    periods: dict[int, Period], t: datetime) -> engine.MeasureScores:
    period_ids = sorted(periods)
    size = len(pairs)
    columns = {name: np.full(size, np.nan) for name in TARGET_FIELDS}
    columns["cap"][:] = engine.DEFAULT_CAP
    columns["on_track"][:] = engine.DEFAULT_ON_TRACK
    columns["at_risk"][:] = engine.DEFAULT_AT_RISK
    position = pairs.find(targets[:, 0].astype(np.int64), targets[:, 1].astype(np.int64))
    known = position >= 0
    for offset, name in enumerate(TARGET_FIELDS, start=2):
        column = targets[known, offset]
        given = ~np.isnan(column)
        columns[name][position[known][given]] = column[given]

    known_periods = np.array(period_ids, dtype=np.int64)
    bounds = np.array([[moment.timestamp() for moment in periods[pk].bounds()] for pk in period_ids]).reshape(-1, 2)
    starts, ends = bounds[np.searchsorted(known_periods, pairs.period)].T if size else (np.zeros(0), np.zeros(0))
    at = _Lookup(measures["id"]).find(pairs.measure)
    return engine.evaluate_measures(
        _load_aggregates(pairs, periods, t), aggregation=measures["aggregation"][at],
        polarity=measures["polarity"][at], start=starts, end=ends, t=t.timestamp(),
        tracking=measures["tracking"][at], **columns,
    )


def _load_aggregates(pairs: _Pairs, periods: dict[int, Period], t: datetime) -> engine.Aggregates:
    period_ids = sorted(periods)
    size = len(pairs)
    columns = {name: np.full(size, np.nan) for name in AGGREGATE_FIELDS}
    columns["n"][:] = 0
    as_of = connection.ops.adapt_datetimefield_value(t)
    rows = _rows_for_measures(
        f"SELECT measure_id, period_id, CASE WHEN last_ts >= %s THEN 1 ELSE 0 END, {', '.join(AGGREGATE_FIELDS)} "
        f"FROM {_table(MeasureAggregate)} WHERE period_id IN ({_in(period_ids)})",
        [as_of, *period_ids], "measure_id", pairs.measure)
    if rows:
        values = _numeric(rows, 3 + len(AGGREGATE_FIELDS))
        position = pairs.find(values[:, 0].astype(np.int64), values[:, 1].astype(np.int64))
        fresh = (position >= 0) & (values[:, 2] == 0)
        for offset, name in enumerate(AGGREGATE_FIELDS, start=3):
            columns[name][position[fresh]] = values[fresh, offset]
        # As of a past instant: the kept aggregates include later observations; recount those from raw rows.
        stale = (position >= 0) & (values[:, 2] == 1)
        by_period = defaultdict(list)
        for measure_id, period_id in values[stale, :2].astype(np.int64).tolist():
            by_period[period_id].append(measure_id)
        for period_id, measure_ids in by_period.items():
            start, end = periods[period_id].bounds()
            for measure_id, recount in aggregate_observations(measure_ids, start, min(end, t), start).items():
                i = pairs.find(np.array([measure_id]), np.array([period_id]))[0]
                for name in AGGREGATE_FIELDS:
                    value = recount.get(name)
                    columns[name][i] = np.nan if value is None else float(value)
    columns["last"] = columns.pop("last_value")
    return engine.Aggregates(**columns)


# -- the tree -----------------------------------------------------------------------------------


@dataclass
class _Tree:
    """Objectives (the members), then perspective nodes, then scorecard nodes, in one index space."""

    members: _Objectives
    perspective_nodes: np.ndarray  # (perspective, subject, period) per perspective node
    scorecard_nodes: np.ndarray  # (subject, period) per scorecard node
    node_edges: engine.Edges
    frozen_edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (frozen row, parent node, weight)

    @property
    def size(self) -> int:
        return len(self.members) + len(self.perspective_nodes) + len(self.scorecard_nodes)


def _build_tree(members: _Objectives, frozen: _Objectives, perspective_weights: dict[int, float]) -> _Tree:
    """Nodes and edges for members (scored) and frozen objectives (leaves read from snapshots)."""
    m = len(members)
    both = _Objectives(**{name: np.concatenate([getattr(members, name), getattr(frozen, name)])
                          for name in members.__dataclass_fields__})
    is_frozen = np.arange(len(both)) >= m
    parent = _Lookup(members.id).find(both.parent)
    into_parent = both.rolls_up & (parent >= 0)
    safe_parent = np.where(into_parent, parent, 0)
    through_parent = into_parent & (members.subject[safe_parent] == both.subject) if m else into_parent
    to_card = ~through_parent
    if is_frozen.any():
        member_pairs = _Lookup(np.unique(members.subject * (1 << 20) + members.period))
        in_member_card = member_pairs.find(both.subject * (1 << 20) + both.period) >= 0
        to_card &= ~is_frozen | in_member_card
    via_perspective = to_card & (both.perspective >= 0)

    triples = np.stack([both.perspective, both.subject, both.period], axis=1)[via_perspective]
    perspective_nodes, perspective_of = np.unique(triples, axis=0, return_inverse=True)
    card_pairs = np.stack([both.subject, both.period], axis=1)
    scorecard_nodes, scorecard_of = np.unique(
        np.concatenate([card_pairs[to_card], perspective_nodes[:, 1:]]), axis=0, return_inverse=True)
    scorecard_of = scorecard_of.ravel()
    first_card = m + len(perspective_nodes)
    card_of_row = np.full(len(both), -1, dtype=np.int64)
    card_of_row[to_card] = first_card + scorecard_of[:int(to_card.sum())]
    card_of_row[via_perspective] = m + perspective_of.ravel()
    perspective_card = first_card + scorecard_of[int(to_card.sum()):]

    rows = np.arange(len(both))
    weights = np.array([perspective_weights[int(p)] for p in perspective_nodes[:, 0]], dtype=np.float64)
    member_rows = ~is_frozen
    node_edges = engine.Edges(
        child=np.concatenate([rows[member_rows & into_parent], rows[member_rows & to_card],
                              m + np.arange(len(perspective_nodes))]),
        parent=np.concatenate([parent[member_rows & into_parent], card_of_row[member_rows & to_card],
                               perspective_card]),
        weight=np.concatenate([both.weight[member_rows & into_parent], both.weight[member_rows & to_card], weights]),
    )
    frozen_edges = []
    for mask, target in ((is_frozen & into_parent, parent), (is_frozen & to_card, card_of_row)):
        frozen_edges.append((rows[mask] - m, target[mask], both.weight[mask]))
    return _Tree(members, perspective_nodes.reshape(-1, 3), scorecard_nodes.reshape(-1, 2), node_edges, frozen_edges)


def _latest_snapshots(objectives: _Objectives, t: datetime) -> engine.Leaves:
    """(score, health, status) of each objective's latest snapshot on or before the day of t."""
    size = len(objectives)
    score, health = np.full(size, np.nan), np.full(size, np.nan)
    status = np.full(size, engine.Status.NO_DATA, dtype=np.int8)
    if size:
        table = _table(ScoreSnapshot)
        day = connection.ops.adapt_datefield_value(timezone.localdate(t))
        rows = _fetch_in(
            f"SELECT s.node_id, s.score, s.health, {_code_sql('s.status', engine.STATUS_SLUGS)} FROM {table} s "
            f"WHERE s.node_kind = %s AND s.day = (SELECT max(l.day) FROM {table} l WHERE l.node_kind = s.node_kind "
            f"AND l.node_id = s.node_id AND l.subject_id = s.subject_id AND l.period_id = s.period_id "
            f"AND l.day <= %s)", [Kind.OBJECTIVE, day], "s.node_id", objectives.id.tolist())
        found = _numeric(rows, 4)
        at = _Lookup(objectives.id).find(found[:, 0].astype(np.int64))
        score[at], health[at], status[at] = found[:, 1], found[:, 2], found[:, 3]
    return engine.Leaves(score, health, status, engine.MAX_CAP)


# -- evaluate -----------------------------------------------------------------------------------


def evaluate(*, as_of: datetime | None = None, period_keys=None, measure_ids=None, store: bool = True) -> Evaluation:
    """Score everything in the periods to evaluate (or only the chains fed by `measure_ids`)."""
    t = as_of or timezone.now()
    periods = periods_to_evaluate(t, period_keys)
    result = Evaluation(as_of=t, periods=periods)
    if not periods:
        return result
    evaluated = sorted(p.pk for p in periods)
    incremental = measure_ids is not None
    members = _affected_objectives(measure_ids, evaluated) if incremental else _all_objectives(evaluated)
    by_id = {p.pk: p for p in periods}
    # Parents may sit in other periods (a quarter's objective aligned to the year's).
    missing = set(members.period.tolist()) - set(by_id)
    by_id.update((p.pk, p) for p in Period.objects.filter(pk__in=missing))
    period_ids = sorted(by_id)
    stride = max(period_ids) + 1

    key_results = _key_results(members, incremental)
    kr_period = members.period[key_results["objective"]]
    targets = _targets(period_ids, np.union1d(measure_ids, key_results["measure"]) if incremental else None)
    measures = _measures(np.union1d(targets[:, 0].astype(np.int64), key_results["measure"]))
    # Scored: measures with a target in the periods (on an incremental run, only the given ones), and key results'.
    targeted = measures["is_active"][_Lookup(measures["id"]).find(targets[:, 0].astype(np.int64))] == 1
    if incremental:
        targeted &= np.isin(targets[:, 0], measure_ids)
    pairs = _Pairs.of(np.concatenate([targets[targeted, 0].astype(np.int64), key_results["measure"]]),
                      np.concatenate([targets[targeted, 1].astype(np.int64), kr_period]), stride)
    scores = _score_measures(pairs, measures, targets, by_id, t)
    measure_subject = measures["subject_id"][_Lookup(measures["id"]).find(pairs.measure)]

    frozen = _siblings(members) if incremental and len(members) else _Objectives.from_rows([])
    perspectives = {p.pk: p for p in Perspective.objects.all()}
    tree = _build_tree(members, frozen, {pk: p.weight for pk, p in perspectives.items()})
    leaves = scores.leaves()
    kr_leaf = pairs.find(key_results["measure"], kr_period)
    leaf_child, leaf_parent, leaf_weight = [kr_leaf], [key_results["objective"]], [key_results["weight"]]
    if len(frozen):
        offset = len(leaves)
        leaves = engine.Leaves.concat(leaves, _latest_snapshots(frozen, t))
        for rows, parents, weights in tree.frozen_edges:
            leaf_child.append(offset + rows)
            leaf_parent.append(parents)
            leaf_weight.append(weights)
    rolled = engine.roll_up_tree(
        tree.size, leaves=leaves,
        leaf_edges=engine.Edges(np.concatenate(leaf_child), np.concatenate(leaf_parent), np.concatenate(leaf_weight)),
        node_edges=tree.node_edges,
        on_track=np.concatenate([members.on_track, np.full(tree.size - len(members), engine.DEFAULT_ON_TRACK)]),
        at_risk=np.concatenate([members.at_risk, np.full(tree.size - len(members), engine.DEFAULT_AT_RISK)]),
        status_rule=np.concatenate([members.rule, np.full(tree.size - len(members), engine.StatusRule.WEIGHTED)]),
    ) if tree.size else None

    result.blocks = _blocks(pairs, measure_subject, scores, key_results, kr_leaf, tree, rolled, by_id, t)
    if store:
        blocks = result.blocks
        if incremental:
            # Measures re-scored only to feed a roll-up have no new data: their rows (and their key results')
            # stay as the last full run wrote them.
            given = np.asarray(list(measure_ids), dtype=np.int64)
            kr_measure = key_results["measure"][kr_leaf >= 0]
            blocks = [blocks[0].take(np.isin(blocks[0].node_id, given)), blocks[1].take(np.isin(kr_measure, given)),
                      *blocks[2:]]
        result.stored = _store(blocks, t, replace_periods=None if incremental else evaluated)
    return result


def _key_results(members: _Objectives, incremental: bool) -> dict[str, np.ndarray]:
    """Key results of the member objectives: id, objective (position in members), measure, weight."""
    kr, o = _table(KeyResult), _table(Objective)
    if incremental or len(members) <= WHOLE_TABLE:
        rows = _fetch_in(f"SELECT id, objective_id, measure_id, weight FROM {kr} WHERE 1 = 1", [], "objective_id",
                         members.id.tolist())
    else:
        period_ids = np.unique(members.period).tolist()
        rows = _fetch(f"SELECT kr.id, kr.objective_id, kr.measure_id, kr.weight FROM {kr} kr JOIN {o} o "
                      f"ON o.id = kr.objective_id WHERE o.period_id IN ({_in(period_ids)})", period_ids)
    table = _numeric(sorted(rows), 4)
    position = _Lookup(members.id).find(table[:, 1].astype(np.int64))
    keep = position >= 0
    return {"id": table[keep, 0].astype(np.int64), "objective": position[keep],
            "measure": table[keep, 2].astype(np.int64), "weight": table[keep, 3]}


def _blocks(pairs, measure_subject, scores, key_results, kr_leaf, tree: _Tree, rolled, periods: dict[int, Period],
            t: datetime) -> list[NodeBlock]:
    measure_values = {name: getattr(scores, name) for name in VALUE_FIELDS}
    blocks = [NodeBlock(Kind.MEASURE, pairs.measure, measure_subject, pairs.period, measure_values,
                        scores.status, scores.forecast_status)]
    members = tree.members
    found = kr_leaf >= 0
    at = kr_leaf[found]
    blocks.append(NodeBlock(
        Kind.KEY_RESULT, key_results["id"][found], members.subject[key_results["objective"][found]],
        pairs.period[at], {name: column[at] for name, column in measure_values.items()},
        scores.status[at], scores.forecast_status[at], Kind.OBJECTIVE, members.id[key_results["objective"][found]]))
    if rolled is None:
        return blocks
    elapsed = {pk: float(np.ravel(engine.elapsed_fraction(*(b.timestamp() for b in p.bounds()), t.timestamp()))[0])
               for pk, p in periods.items()}

    def rolled_block(kind, span, node_id, subject, period, parent_kind=None, parent_id=None):
        values = {name: np.full(len(node_id), np.nan) for name in VALUE_FIELDS}
        values["score"], values["health"] = rolled.progress[span], rolled.health[span]
        values["elapsed"] = np.array([elapsed[p] for p in period.tolist()], dtype=np.float64)
        return NodeBlock(kind, node_id, subject, period, values, rolled.status[span],
                         np.full(len(node_id), -1, dtype=np.int8), parent_kind, parent_id)

    m, p = len(members), len(tree.perspective_nodes)
    shown_parent = np.where(members.rolls_up & (members.parent >= 0), members.parent, NO_ID)
    blocks.append(rolled_block(Kind.OBJECTIVE, slice(0, m), members.id, members.subject, members.period,
                               Kind.OBJECTIVE, shown_parent))
    perspective = tree.perspective_nodes
    blocks.append(rolled_block(Kind.PERSPECTIVE, slice(m, m + p), perspective[:, 0], perspective[:, 1],
                               perspective[:, 2], Kind.SCORECARD, perspective[:, 1]))
    card = tree.scorecard_nodes
    blocks.append(rolled_block(Kind.SCORECARD, slice(m + p, tree.size), card[:, 0], card[:, 0], card[:, 1]))
    return blocks


# -- NodeResults, on demand ---------------------------------------------------------------------


def _names(model, key_field: str, name_field: str, ids) -> dict[int, tuple[str, str]]:
    rows = _fetch_in(f"SELECT id, {key_field}, {name_field} FROM {_table(model)} WHERE 1 = 1", [], "id", ids)
    return {pk: (key, name) for pk, key, name in rows}


def _node_results(blocks: list[NodeBlock]) -> list[NodeResult]:
    models = {Kind.MEASURE: (Measure, "key", "name"), Kind.KEY_RESULT: (KeyResult, "key", "title"),
              Kind.OBJECTIVE: (Objective, "key", "title"), Kind.PERSPECTIVE: (Perspective, "key", "name")}
    slug = engine.STATUS_SLUGS
    out = []
    for block in blocks:
        names = (_names(*models[block.kind], set(block.node_id.tolist())) if block.kind in models
                 else defaultdict(lambda: ("", "Scorecard")))
        columns = {name: [None if np.isnan(v) else v for v in block.values[name].tolist()] for name in VALUE_FIELDS}
        for i, node_id in enumerate(block.node_id.tolist()):
            key, name = names[node_id]
            parent = None
            if block.parent_kind and block.parent_id[i] != NO_ID:
                parent = (block.parent_kind, int(block.parent_id[i]))
            forecast_status = int(block.forecast_status[i])
            out.append(NodeResult(
                kind=block.kind, node_id=node_id, key=key or str(node_id), name=name,
                subject_id=int(block.subject_id[i]), period_id=int(block.period_id[i]),
                status=slug[block.status[i]], forecast_status=slug[forecast_status] if forecast_status >= 0 else "",
                parent=parent, **{name: columns[name][i] for name in VALUE_FIELDS}))
    return out


# -- snapshots ----------------------------------------------------------------------------------

SNAPSHOT_COLUMNS = ("node_kind", "node_id", "subject_id", "period_id", "day", "as_of", "actual", "attainment",
                    "score", "health", "status", "forecast", "forecast_attainment", "forecast_status", "elapsed")
KEY_COLUMNS = ("node_kind", "node_id", "subject_id", "period_id", "day")
SLUGS = np.array(engine.STATUS_SLUGS + ("",), dtype=object)  # index -1 is "": no forecast status


def _snapshot_rows(blocks: list[NodeBlock], day, as_of) -> list[tuple]:
    """Plain tuples in SNAPSHOT_COLUMNS order, straight from the columns (NaN -> NULL)."""
    rows: list[tuple] = []
    for block in blocks:
        size = len(block)
        if not size:
            continue
        values = np.stack([block.values[name] for name in VALUE_FIELDS]).astype(object)
        values[np.isnan(values.astype(np.float64))] = None
        v = dict(zip(VALUE_FIELDS, values.tolist(), strict=True))
        rows.extend(zip(
            [block.kind.value] * size, block.node_id.tolist(), block.subject_id.tolist(), block.period_id.tolist(),
            [day] * size, [as_of] * size, v["actual"], v["attainment"], v["score"], v["health"],
            SLUGS[block.status].tolist(), v["forecast"], v["forecast_attainment"],
            SLUGS[block.forecast_status].tolist(), v["elapsed"], strict=True))
    return rows


def _store(blocks: list[NodeBlock], t: datetime, *, replace_periods: list[int] | None) -> int:
    """Write the day's snapshot of every node: one row per (node, subject, period, day).

    SQLite upserts: the day's first run inserts, later runs update the same rows in
    place (cheaper there than deleting and inserting), then a full run
    (`replace_periods`) deletes the day's rows it did not write (nodes that left the
    plan). On PostgreSQL an update writes a new row version and new index entries,
    so a full run deletes the day's rows of its periods and COPYs the new ones in;
    other rows (an incremental run's, parents in other periods) are upserted.
    """
    ops = connection.ops
    day, as_of = ops.adapt_datefield_value(timezone.localdate(t)), ops.adapt_datetimefield_value(t)
    rows = _snapshot_rows(blocks, day, as_of)
    table = _table(ScoreSnapshot)
    with transaction.atomic(), connection.cursor() as cursor:
        if replace_periods and connection.vendor == "postgresql":
            cursor.execute(f"DELETE FROM {table} WHERE day = %s AND period_id IN ({_in(replace_periods)})",
                           [day, *replace_periods])
            replaced = set(replace_periods)
            _copy(cursor, table, [row for row in rows if row[3] in replaced])
            _upsert([row for row in rows if row[3] not in replaced])
            return len(rows)
        _upsert(rows)
        if replace_periods:
            cursor.execute(f"DELETE FROM {table} WHERE day = %s AND period_id IN ({_in(replace_periods)}) "
                           "AND as_of <> %s", [day, *replace_periods, as_of])
    return len(rows)


def _copy(cursor, table: str, rows: list[tuple]) -> None:
    """PostgreSQL: rows into `table` (SNAPSHOT_COLUMNS) by COPY."""
    columns = ", ".join(connection.ops.quote_name(c) for c in SNAPSHOT_COLUMNS)
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _upsert(rows: list[tuple]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE: by executemany on SQLite; on PostgreSQL through COPY into a
    temporary table (one INSERT per row is ~50 µs there)."""
    if not rows:
        return
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in SNAPSHOT_COLUMNS)
    table = _table(ScoreSnapshot)
    conflict = (f"ON CONFLICT ({', '.join(q(c) for c in KEY_COLUMNS)}) DO UPDATE SET "
                + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in SNAPSHOT_COLUMNS if c not in KEY_COLUMNS))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMPORARY TABLE snapshot_rows ON COMMIT DROP AS SELECT {columns} FROM {table} "
                           "WITH NO DATA")
            _copy(cursor, "snapshot_rows", rows)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM snapshot_rows {conflict}")
            cursor.execute("DROP TABLE snapshot_rows")
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES ({_in(SNAPSHOT_COLUMNS)}) {conflict}"
        for start in range(0, len(rows), 50_000):
            cursor.executemany(sql, rows[start:start + 50_000])
