"""Background evaluation: a full run on a schedule, and incremental runs after new observations.

Small changes (a check-in, a batch touching a few measures) are re-scored at
once after commit, so people see their status move; large batches are handed
to the worker so the request returns quickly.
"""

import logging

from django.conf import settings
from django_tasks import task

from northstar.core.schedule import schedule

logger = logging.getLogger(__name__)

# Above this many measures, incremental re-scoring goes to the worker.
INLINE_MEASURES = 200


@task()
def evaluate_all() -> int:
    from northstar.scoring.evaluate import evaluate

    return evaluate().stored


@task()
def reevaluate_measures(measure_ids: list[int]) -> int:
    from northstar.scoring.evaluate import evaluate

    return evaluate(measure_ids=measure_ids).stored


def schedule_reevaluation(measure_ids: list[int]) -> None:
    """Re-score the chains these measures feed: now when few, else in the worker."""
    if not measure_ids:
        return
    if len(measure_ids) <= INLINE_MEASURES:
        try:
            reevaluate_measures.call(list(measure_ids))
        except Exception:  # scoring must never fail the write that triggered it; the schedule catches up
            logger.exception("incremental evaluation failed; the scheduled evaluation will catch up")
        return
    reevaluate_measures.enqueue(list(measure_ids))


schedule.register("evaluate_all", getattr(settings, "EVALUATION_EVERY_SECONDS", 900), evaluate_all)
