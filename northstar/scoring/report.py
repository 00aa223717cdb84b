"""Evaluation results as plain rows: for `northstar evaluate --json`, the API and CSV exports.

The field names here are a stable interface (docs/evaluation.md): integrations read them.
"""

from northstar.directory.models import Subject
from northstar.goals.models import Period

ROW_FIELDS = ("kind", "key", "name", "subject", "subject_kind", "period", "actual", "attainment", "score", "health",
              "status", "forecast", "forecast_attainment", "forecast_status", "elapsed", "parent")


def result_rows(evaluation) -> list[dict]:
    subjects = {s.pk: s for s in Subject.objects.filter(pk__in={n.subject_id for n in evaluation.nodes})
                .select_related("person", "org_unit", "service", "process")}
    periods = {p.pk: p.key for p in Period.objects.filter(pk__in={n.period_id for n in evaluation.nodes})}
    keys = {(n.kind, n.node_id): n.key for n in evaluation.nodes}
    rows = []
    for n in evaluation.nodes:
        subject = subjects[n.subject_id]
        parent = None
        if n.parent is not None:
            parent_kind, parent_id = n.parent
            parent = {"kind": parent_kind, "key": keys.get(n.parent, str(parent_id))}
        rows.append({
            "kind": n.kind, "key": n.key if n.kind != "scorecard" else _subject_key(subject),
            "name": n.name if n.kind != "scorecard" else f"Scorecard of {subject.target}",
            "subject": _subject_key(subject), "subject_kind": subject.kind, "period": periods[n.period_id],
            "actual": n.actual, "attainment": n.attainment, "score": n.score, "health": n.health,
            "status": n.status, "forecast": n.forecast, "forecast_attainment": n.forecast_attainment,
            "forecast_status": n.forecast_status or None, "elapsed": n.elapsed, "parent": parent,
        })
    return rows


def _subject_key(subject: Subject) -> str:
    """A readable, stable reference: the org unit's, service's or process's key, or the employee id."""
    target = subject.target
    return getattr(target, "key", None) or getattr(target, "employee_id", None) or str(subject.uid)
