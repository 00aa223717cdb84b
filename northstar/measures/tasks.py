"""Measures' background tasks and their schedule: scheduled pulls (docs/pulls.md)."""

from django_tasks import task

from northstar.core.schedule import register
from northstar.measures.connectors.runner import run_due_pulls


@task()
def run_due_pull_sources() -> dict:
    """Run every pull source that is due; each source is claimed so that two workers never pull it twice."""
    ran = run_due_pulls()
    return {"ran": len(ran), "failed": sum(1 for _source, result in ran if not result.ok)}


register("run_due_pulls", every_seconds=30, task=run_due_pull_sources)
