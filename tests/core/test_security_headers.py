"""Security headers on every response, the request id, and HTTPS-only settings in production."""

import json
import os
import re
import secrets
import subprocess
import sys

import pytest
from django.urls import reverse

CONFIG = {"DATABASE_URL", "NORTHSTAR_MODE", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS",
          "LOG_FORMAT", "DJANGO_ALLOW_ASYNC_UNSAFE"}


@pytest.fixture
def login_page(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    return response


def test_html_pages_carry_a_strict_content_security_policy(login_page):
    policy = login_page["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_pages_cannot_be_framed_or_sniffed(login_page):
    assert login_page["X-Frame-Options"] == "DENY"
    assert login_page["X-Content-Type-Options"] == "nosniff"
    assert login_page["Referrer-Policy"] == "same-origin"


def test_a_valid_request_id_is_echoed(client, db):
    response = client.get("/health", headers={"X-Request-ID": "lb-7f3a.42:abc_DEF"})
    assert response["X-Request-ID"] == "lb-7f3a.42:abc_DEF"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 65, "<script>"])
def test_a_missing_or_invalid_request_id_is_replaced_by_a_generated_one(client, db, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    first = client.get("/health", headers=headers)["X-Request-ID"]
    second = client.get("/health", headers=headers)["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_development_sends_no_hsts_and_plain_cookies(client, db, settings):
    response = client.get(reverse("login"), secure=True)
    assert "Strict-Transport-Security" not in response
    assert not settings.SESSION_COOKIE_SECURE


# In a fresh interpreter, because the production values are computed when settings load.
PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/login/", secure=True)
print(json.dumps({
    "status": response.status_code,
    "hsts": response.get("Strict-Transport-Security", ""),
    "csrf_cookie_secure": bool(response.cookies["csrftoken"]["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_setting_secure": settings.CSRF_COOKIE_SECURE,
}))
"""


def test_production_sends_hsts_and_secure_cookies(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in CONFIG}
    env.update(DJANGO_SETTINGS_MODULE="northstar.settings", NORTHSTAR_DATA_DIR=str(tmp_path),
               NORTHSTAR_MODE="production", SECRET_KEY=secrets.token_urlsafe(64), DEBUG="false",
               ALLOWED_HOSTS="testserver")
    result = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert seen["hsts"].startswith("max-age=31536000")
    assert "includeSubDomains" in seen["hsts"]
    assert seen["csrf_cookie_secure"] is True
    assert seen["session_cookie_secure"] is True
    assert seen["csrf_setting_secure"] is True
