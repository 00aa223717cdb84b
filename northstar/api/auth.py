"""API authentication: bearer tokens for integrations, the session for the web UI."""

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import APIKeyCookie, HttpBearer

from northstar.core.models import ApiToken
from northstar.core.services import authenticate_token

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TokenAuth(HttpBearer):
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

    def authenticate(self, request: HttpRequest, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None
