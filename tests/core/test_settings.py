"""Production mode refuses unsafe settings at start-up, and `northstar check` names the rest."""

import os
import secrets
import subprocess
import sys

import pytest

SETUP = "import django; django.setup()"
# Variables that would leak this run's configuration (the suite's conftest sets
# DJANGO_ALLOW_ASYNC_UNSAFE) into the child's.
CONFIG = {"DATABASE_URL", "NORTHSTAR_MODE", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS",
          "EMAIL_HOST", "EMAIL_BACKEND", "LOG_FORMAT", "DJANGO_ALLOW_ASYNC_UNSAFE"}


@pytest.fixture
def run(tmp_path):
    """Run a Python command in a fresh interpreter with only the given configuration."""
    def run(args, **config):
        env = {name: value for name, value in os.environ.items() if name not in CONFIG}
        env.update(DJANGO_SETTINGS_MODULE="northstar.settings", NORTHSTAR_DATA_DIR=str(tmp_path), **config)
        return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)
    return run


def good_production(**overrides):
    return {"NORTHSTAR_MODE": "production", "SECRET_KEY": secrets.token_urlsafe(64), "DEBUG": "false",
            "ALLOWED_HOSTS": "northstar.example.com", **overrides}


def test_production_refuses_the_development_key_and_debug(run):
    result = run(["-c", SETUP], NORTHSTAR_MODE="production", DEBUG="true",
                 ALLOWED_HOSTS="northstar.example.com")
    assert result.returncode != 0
    assert "refuses to start in production mode" in result.stderr
    assert "SECRET_KEY" in result.stderr
    assert "DEBUG" in result.stderr


def test_production_refuses_a_weak_key_and_empty_allowed_hosts(run):
    result = run(["-c", SETUP], **good_production(SECRET_KEY="short", ALLOWED_HOSTS=""))
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_starts_with_a_good_key_debug_off_and_allowed_hosts(run):
    result = run(["-c", SETUP + "; from django.conf import settings; print(settings.DEBUG)"],
                 **good_production())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_secret_key_can_come_from_a_file(run, tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(secrets.token_urlsafe(64) + "\n")
    config = good_production(SECRET_KEY_FILE=str(key_file))
    del config["SECRET_KEY"]
    assert run(["-c", SETUP], **config).returncode == 0


def test_development_mode_starts_with_no_configuration(run):
    result = run(["-c", SETUP + "; from django.conf import settings; print(settings.DEBUG, settings.PRODUCTION)"])
    assert result.returncode == 0, result.stderr
    # DEBUG stays off unless asked for, so even the demo shows the app's own error pages.
    assert result.stdout.strip() == "False False"


def test_check_in_production_names_a_localhost_mail_server(run):
    result = run(["-m", "northstar.cli", "check"], **good_production(EMAIL_HOST="localhost"))
    output = result.stdout + result.stderr
    assert "northstar.W002" in output
    assert "EMAIL_HOST is localhost" in output


def test_check_in_production_is_quiet_about_a_real_mail_server(run):
    result = run(["-m", "northstar.cli", "check"], **good_production(EMAIL_HOST="smtp.example.com"))
    assert result.returncode == 0, result.stderr
    assert "EMAIL_HOST" not in result.stdout + result.stderr
