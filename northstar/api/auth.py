"""API authentication: bearer tokens for integrations, the session for the web UI."""

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import APIKeyCookie, HttpBearer

from northstar.core.models import ApiToken
from northstar.core.services import authenticate_token

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TokenAuth(HttpBearer):
    def __call__(self, request: HttpRequest):
        # Only bearer tokens are ours; other schemes (and their credentials) are ignored, never logged.
        header = request.headers.get(self.header, "")
        if not header.lower().startswith("bearer "):
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str):
        row = authenticate_token(token)
        if row is None:
            return None
        if row.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            raise AuthorizationError(403, "This API token is read-only; use a token with the write scope.")
        request.api_token = row
        request.user = row.user
        return row.user


class SessionAuth(APIKeyCookie):
    """The browser's login session; unsafe methods need the CSRF token, as in the UI."""

    param_name = "sessionid"

    def __call__(self, request: HttpRequest):
        # Without a session there is nothing to protect from cross-site requests: answer 401, not a CSRF 403.
        if not getattr(request, "user", None) or not request.user.is_authenticated:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None
