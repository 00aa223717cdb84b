"""One error body everywhere: {"error": {"code", "message", "fields"}}."""

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from northstar.core.errors import Conflict, validation_fields

logger = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
}
# Parameter containers that prefix every location in ninja's validation errors.
_LOCATION_PREFIXES = {"body", "query", "path", "header", "cookie", "form", "file", "payload", "filters"}


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]]


class ErrorBody(Schema):
    error: ErrorDetail


# Every operation may answer with the error body; routes list these in `response=`.
ERRORS = {400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody}


def error_response(api: NinjaAPI, request, status: int, message: str, fields=None, code: str | None = None):
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message, "fields": fields or {}}}
    return api.create_response(request, body, status=status)


class ApiErrorBodyMiddleware:
    """Django's own 404 and 405 answers under /api/ get the API's error body too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code not in (404, 405):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        from django.http import JsonResponse

        message = "No such API endpoint." if response.status_code == 404 else \
            f"{request.method} is not allowed here; allowed: {response.get('Allow', '')}."
        replaced = JsonResponse({"error": {"code": CODES[response.status_code], "message": message, "fields": {}}},
                                status=response.status_code)
        if response.has_header("Allow"):
            replaced["Allow"] = response["Allow"]
        return replaced


def _field_name(loc) -> str:
    parts = [str(p) for p in loc]
    while len(parts) > 1 and parts[0] in _LOCATION_PREFIXES:
        parts = parts[1:]
    return ".".join(parts) or "__all__"


def _ninja_validation_fields(errors) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        fields.setdefault(_field_name(error.get("loc", ())), []).append(error.get("msg", "Invalid value."))
    return fields


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(NinjaValidationError)
    def invalid_input(request, exc):
        if request.method in {"POST", "PUT", "PATCH"} and not request.body.strip() and \
                not request.content_type.startswith("multipart/"):
            return error_response(api, request, 400, "The request body is empty; send a JSON object.")
        fields = _ninja_validation_fields(exc.errors)
        names = ", ".join(sorted(fields))
        return error_response(api, request, 422, f"Invalid input in: {names}.", fields)

    @api.exception_handler(DjangoValidationError)
    def invalid_values(request, exc):
        fields = validation_fields(exc)
        names = ", ".join(sorted(fields))
        return error_response(api, request, 422, f"Invalid input in: {names}.", fields)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            message = "The API token is not valid: it is unknown, expired or revoked."
        else:
            message = "Authentication required: send 'Authorization: Bearer <token>' or log in."
        return error_response(api, request, 401, message)

    @api.exception_handler(HttpError)
    def http_error(request, exc):
        message = str(exc)
        if exc.status_code == 400 and message.startswith("Cannot parse request body"):
            message = "The request body is not valid JSON."
        return error_response(api, request, exc.status_code, message)

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return error_response(api, request, 403, str(exc) or "You may not do that.")

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return error_response(api, request, 404, str(exc) or "Not found.")

    @api.exception_handler(ObjectDoesNotExist)
    def missing(request, exc):
        return error_response(api, request, 404, str(exc) or "Not found.")

    @api.exception_handler(Conflict)
    def conflict(request, exc):
        return error_response(api, request, 409, exc.message, exc.fields)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        return error_response(api, request, 413, "The request body is too large; send smaller batches.",
                              code="too_large")

    @api.exception_handler(Exception)
    def internal(request, exc):
        logger.exception("unhandled API error")
        return error_response(api, request, 500, "Internal error; it has been logged.")
