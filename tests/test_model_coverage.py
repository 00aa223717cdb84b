"""Meta-test: every model has API or view tests (or a stated reason why not).

A model counts as covered when a test class subclasses APIResourceTests with it
as `model`, or a test module names it in a module-level `COVERS` list.
"""

import importlib
import inspect
import pkgutil

from django.apps import apps

import tests
from tests.api.resources import APIResourceTests

# Models with no API or page of their own, and why.
NOT_EXPOSED = {
    "audit.AuditHead": "internal tip of the hash chain; exercised by tests/audit/test_chain.py",
    "measures.MeasureAggregate": "running aggregates kept at ingest; checked against raw recounts in "
                                 "tests/measures/test_ingest_core.py and read through the scores API",
    "core.ScheduledJob": "the scheduler's claim rows; exercised by tests/core/test_worker.py",
    "core.WorkerHeartbeat": "written by the worker; shown through /health (tests/core/test_health.py)",
}


def _test_modules():
    for info in pkgutil.walk_packages(tests.__path__, prefix="tests."):
        if info.name.rsplit(".", 1)[-1].startswith("test_"):
            yield importlib.import_module(info.name)


def covered_models() -> set[str]:
    covered = set()
    for module in _test_modules():
        for model in getattr(module, "COVERS", ()):
            covered.add(model._meta.label)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, APIResourceTests) and cls.model is not None:
                covered.add(cls.model._meta.label)
    return covered


def test_every_model_has_api_or_view_tests():
    ours = {m._meta.label for m in apps.get_models() if m.__module__.startswith("northstar.")}
    missing = ours - covered_models() - set(NOT_EXPOSED)
    assert not missing, f"models without API or view tests: {sorted(missing)}"
