"""The REST API under /api/v1: every app's router mounted on one NinjaAPI."""

from ninja import NinjaAPI

from northstar.api.auth import SessionAuth, TokenAuth
from northstar.api.errors import install_error_handlers

api = NinjaAPI(
    title="Northstar API",
    version="1",
    description=(
        "Performance management for people, teams, business processes and IT services. "
        "Authenticate with `Authorization: Bearer <token>` (create tokens under *API tokens*) "
        "or with the web session. Errors always have the body "
        '`{"error": {"code": ..., "message": ..., "fields": {...}}}`.'
    ),
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)

from northstar.audit.api import router as audit_router  # noqa: E402
from northstar.core.api import router as core_router  # noqa: E402
from northstar.directory.api import router as directory_router  # noqa: E402

api.add_router("/", core_router)
api.add_router("/", directory_router)
api.add_router("/audit", audit_router)
api.add_router("/", "northstar.directory.api_import.router")
api.add_router("/", "northstar.goals.api.router")
api.add_router("/", "northstar.measures.api.router")
api.add_router("/", "northstar.measures.api_ingest.router")
api.add_router("/", "northstar.measures.api_pull.router")
api.add_router("/", "northstar.goals.api_plan.router")
api.add_router("/", "northstar.scoring.api.router")
