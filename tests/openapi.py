"""Validate API responses against the generated OpenAPI document, inside the test client.

Every response the API tests receive goes through `check_response`, so the
documentation cannot drift from what the API really returns.
"""

import json
import re
from functools import cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

API_PREFIX = "/api/v1"


@cache
def openapi_document() -> dict:
    from northstar.api.urls import api

    return json.loads(json.dumps(api.get_openapi_schema()))


@cache
def _operations() -> list[tuple[re.Pattern, str, dict, str]]:
    doc = openapi_document()
    operations = []
    for template, methods in doc["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$")
        for method, operation in methods.items():
            pointer = f"/paths/{_escape(template)}/{method}"
            operations.append((pattern, method.lower(), operation, pointer))
    # Literal paths before templated ones (/people/me before /people/{uid}).
    operations.sort(key=lambda item: item[0].pattern.count("[^/]+"))
    return operations


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(openapi_document(), default_specification=DRAFT202012)
    return Registry().with_resource("urn:openapi", resource)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def find_operation(path: str, method: str) -> tuple[dict, str]:
    path = path.split("?")[0]
    for pattern, op_method, operation, pointer in _operations():
        if op_method == method.lower() and pattern.match(path):
            return operation, pointer
    raise AssertionError(f"{method.upper()} {path} is not in the OpenAPI document")


def check_response(path: str, method: str, status: int, content_type: str, body: bytes) -> None:
    operation, pointer = find_operation(path, method)
    responses = operation.get("responses", {})
    documented = responses.get(str(status))
    if documented is None:
        raise AssertionError(
            f"{method.upper()} {path} answered {status}, which the OpenAPI document does not list "
            f"(it lists {', '.join(responses)})"
        )
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    assert content_type.startswith("application/json"), f"expected JSON, got {content_type}"
    data = json.loads(body)
    schema_pointer = f"{pointer}/responses/{status}/content/application~1json/schema"
    validator = Draft202012Validator({"$ref": f"urn:openapi#{schema_pointer}"}, registry=_registry())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise AssertionError(
            f"{method.upper()} {path} -> {status} does not match its OpenAPI schema at "
            f"{'/'.join(map(str, first.path)) or '(root)'}: {first.message}"
        )
