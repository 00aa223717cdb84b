"""Background evaluation: on a schedule, and incrementally after new observations."""


def schedule_reevaluation(measure_ids: list[int]) -> None:
    """Re-score the chains of these measures (filled in by scoring.evaluate)."""
