"""Request metadata (request id, client address) for audit events and logs.

Services take the acting user explicitly; the request id and client address are
ambient, set once per request by RequestContextMiddleware, and default to empty
for the CLI and the worker.
"""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_ip: str = ""


_current: ContextVar[RequestContext] = ContextVar("northstar_request", default=RequestContext())  # noqa: B039 (frozen)


def current_request() -> RequestContext:
    return _current.get()


def set_request(context: RequestContext):
    return _current.set(context)


def reset_request(token) -> None:
    _current.reset(token)
