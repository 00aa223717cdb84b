"""LOG_FORMAT=json: one JSON object per line, carrying the request id of the request that logged it."""

import json
import os
import subprocess
import sys

CONFIG = {"DATABASE_URL", "NORTHSTAR_MODE", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS",
          "LOG_FORMAT", "LOG_LEVEL", "DJANGO_ALLOW_ASYNC_UNSAFE"}

# A view that logs while handling a request, a request Django itself logs (a server
# error; 4xx answers are not logged), and a line logged outside any request.
PROBE = """
import logging
import sys
import types

import django
django.setup()
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

def probe(request):
    logging.getLogger("northstar.probe").info("inside a request")
    return HttpResponse("ok")

def broken(request):
    raise RuntimeError("probe failure")

urls = types.ModuleType("probe_urls")
urls.urlpatterns = [path("probe/", probe), path("broken/", broken), path("", include("northstar.urls"))]
sys.modules["probe_urls"] = urls
with override_settings(ROOT_URLCONF="probe_urls"):
    Client().get("/probe/", headers={"X-Request-ID": "probe-41"})
    Client().get("/no-such-page/", headers={"X-Request-ID": "probe-42"})
    Client(raise_request_exception=False).get("/broken/", headers={"X-Request-ID": "probe-43"})
logging.getLogger("northstar.probe").info("outside a request")
"""


def run_probe(tmp_path, log_format):
    env = {name: value for name, value in os.environ.items() if name not in CONFIG}
    env.update(DJANGO_SETTINGS_MODULE="northstar.settings", NORTHSTAR_DATA_DIR=str(tmp_path),
               LOG_FORMAT=log_format)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_json_logs_are_one_object_per_line_with_the_request_id(tmp_path):
    records = [json.loads(line) for line in run_probe(tmp_path, "json")]  # each line parses alone
    inside = next(r for r in records if r["message"] == "inside a request")
    assert inside["request_id"] == "probe-41"
    assert inside["logger"] == "northstar.probe"
    assert inside["level"] == "INFO"
    outside = next(r for r in records if r["message"] == "outside a request")
    assert "request_id" not in outside
    assert {"time", "level", "logger", "message"} <= set(outside)
    django_lines = [r for r in records if r["logger"] == "django.request"]
    assert [r["level"] for r in django_lines] == ["ERROR"]  # the 404 is not logged, the 500 is
    assert "/broken/" in django_lines[0]["message"] and "probe failure" in django_lines[0]["exception"]
    assert django_lines[0]["request_id"] == "probe-43"


def test_text_logs_are_the_default(tmp_path):
    lines = run_probe(tmp_path, "text")
    assert any("INFO northstar.probe inside a request" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
