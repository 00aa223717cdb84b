"""The OpenAPI document itself: complete, and no schema silently replaced by another of the same name."""

import inspect
import pkgutil
from importlib import import_module

from ninja import Schema

import northstar
from tests.openapi import openapi_document


def test_schema_names_are_unique_across_the_api():
    """django-ninja names components by class name: two classes with one name overwrite each other."""
    seen: dict[str, str] = {}
    clashes = []
    for info in pkgutil.walk_packages(northstar.__path__, prefix="northstar."):
        if "migrations" in info.name or not info.name.rsplit(".", 1)[-1].startswith("api"):
            continue
        module = import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Schema) and cls.__module__ == module.__name__:
                if name in seen and seen[name] != module.__name__:
                    clashes.append(f"{name}: {seen[name]} and {module.__name__}")
                seen.setdefault(name, module.__name__)
    assert not clashes, "schema names used twice: " + "; ".join(clashes)


def test_every_operation_documents_its_error_body():
    document = openapi_document()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "401" in operation["responses"] or path.startswith("/api/v1/health"), (method, path)
