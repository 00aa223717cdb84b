"""How fast the scoring engine scores 300,000 measures and rolls them up (no database).

    .venv/bin/python bench/engine_speed.py [measures] [objectives]

Random measures of every aggregation and polarity, one key result each, spread over
the objectives; a quarter of the objectives roll up into another objective (nesting
several levels deep); every objective sits in one of its subject's four
perspectives, which roll up into the subject's scorecard. Prints the best of five runs.
"""

import sys
import time

import numpy as np

from northstar.scoring.engine import Aggregates, Edges, StatusRule, evaluate_measures, roll_up, roll_up_tree

PERIOD = 91 * 86400.0


def measures(rng: np.random.Generator, size: int) -> dict:
    n = rng.integers(0, 200, size).astype(float)
    n[rng.random(size) < 0.05] = 0
    t = rng.uniform(0, PERIOD * 0.6, (size, 2))
    mean_t = t.mean(axis=1)
    y = rng.normal(100, 20, size)
    aggregates = Aggregates(
        n=n, sum=n * y, min=y - 10, max=y + 10, last=y + rng.normal(0, 5, size),
        sum_good=n * 0.97, sum_total=n, sum_t=n * mean_t, sum_tt=n * (mean_t**2 + 1e11),
        sum_ty=n * mean_t * y + n * 1e11 * rng.normal(0, 1e-6, size),
    )
    polarity = rng.integers(0, 3, size)
    return {
        "aggregates": aggregates,
        "aggregation": rng.integers(0, 7, size),
        "polarity": polarity,
        "target": rng.uniform(50, 150, size),
        "baseline": np.where(rng.random(size) < 0.5, rng.uniform(0, 50, size), np.nan),
        "lower": np.where(polarity == 2, 90.0, np.nan),
        "upper": np.where(polarity == 2, 110.0, np.nan),
        "cap": rng.choice([1.0, 1.5, 2.0], size),
        "start": 0.0,
        "end": PERIOD,
        "t": PERIOD * 0.6,
    }


def tree(rng: np.random.Generator, n_measures: int, n_objectives: int):
    subjects = n_objectives // 4
    objective_subject = rng.integers(0, subjects, n_objectives)
    # nodes: objectives, then 4 perspectives per subject, then one scorecard per subject
    perspective = n_objectives + objective_subject * 4 + rng.integers(0, 4, n_objectives)
    scorecard0 = n_objectives + subjects * 4
    n_nodes = scorecard0 + subjects
    nested = rng.random(n_objectives) < 0.25
    nested[0] = False
    child = np.flatnonzero(nested)
    parent = (rng.random(len(child)) * child).astype(np.intp)  # an earlier objective: no cycles
    top = np.flatnonzero(~nested)
    node_edges = Edges(
        child=np.concatenate([child, top, n_objectives + np.arange(subjects * 4)]),
        parent=np.concatenate([parent, perspective[top], scorecard0 + np.arange(subjects * 4) // 4]),
        weight=np.concatenate([rng.uniform(0, 3, len(child)), rng.uniform(0, 3, len(top)), np.ones(subjects * 4)]),
    )
    leaf_edges = Edges(child=np.arange(n_measures), parent=rng.integers(0, n_objectives, n_measures),
                       weight=rng.uniform(0, 3, n_measures))
    rule = np.where(rng.random(n_nodes) < 0.1, StatusRule.WORST, StatusRule.WEIGHTED)
    return n_nodes, leaf_edges, node_edges, rule


def best_of(runs: int, action):
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def main(n_measures: int = 300_000, n_objectives: int = 60_000) -> None:
    rng = np.random.default_rng(2026)
    inputs = measures(rng, n_measures)
    n_nodes, leaf_edges, node_edges, rule = tree(rng, n_measures, n_objectives)

    seconds, scores = best_of(5, lambda: evaluate_measures(**inputs))
    print(f"evaluate_measures: {n_measures:,} measures in {seconds * 1000:.1f} ms")

    leaves = scores.leaves()
    seconds, _ = best_of(5, lambda: roll_up(
        leaf_edges.parent, n_objectives, weight=leaf_edges.weight, score=leaves.score, health=leaves.health,
        status=leaves.status, cap=leaves.cap, status_rule=rule[:n_objectives]))
    print(f"roll_up (one level): {n_measures:,} key results -> {n_objectives:,} objectives in "
          f"{seconds * 1000:.1f} ms")

    seconds, rolled = best_of(5, lambda: roll_up_tree(n_nodes, leaves=leaves, leaf_edges=leaf_edges,
                                                      node_edges=node_edges, status_rule=rule))
    print(f"roll_up_tree: {n_nodes:,} nodes ({n_objectives:,} objectives, nested; perspectives; scorecards), "
          f"{len(leaf_edges) + len(node_edges):,} edges in {seconds * 1000:.1f} ms")

    seconds, _ = best_of(5, lambda: roll_up_tree(n_nodes, leaves=evaluate_measures(**inputs).leaves(),
                                                 leaf_edges=leaf_edges, node_edges=node_edges, status_rule=rule))
    print(f"evaluate_measures + roll_up_tree: {seconds * 1000:.1f} ms")
    counts = np.bincount(rolled.status, minlength=5)
    print("node statuses (no_data, pending, off_track, at_risk, on_track):", counts.tolist())


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
