"""Northstar settings: one module, read from the environment.

Every value has a safe default for `make run` on a laptop (SQLite, DEBUG on,
a generated development secret). Production (`DEBUG=false`) refuses to start
with an insecure secret key; see `northstar.core.checks`.
"""

import os
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from northstar.core.config import DEV_SECRET_KEY, production_problems

BASE_DIR = Path(__file__).resolve().parent.parent



def env(name: str, default: str = "") -> str:
    """A setting from the environment, or from the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name, "")
    if value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


MODE = env("NORTHSTAR_MODE", "development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"NORTHSTAR_MODE must be development or production, not {MODE!r}")
PRODUCTION = MODE == "production"
# Off unless asked for, also in development: the demo shows the app's own error pages,
# and static files come from whitenoise either way.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver,[::1]")

if PRODUCTION:
    problems = production_problems(SECRET_KEY, DEBUG, ALLOWED_HOSTS)
    if problems:
        raise ImproperlyConfigured(
            "Northstar refuses to start in production mode: " + " ".join(problems)
        )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "northstar.core",
    "northstar.audit",
    "northstar.directory",
    "northstar.goals",
    "northstar.measures",
    "northstar.scoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "northstar.core.middleware.RequestContextMiddleware",
    "northstar.core.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "northstar.api.errors.ApiErrorBodyMiddleware",
]

ROOT_URLCONF = "northstar.urls"
WSGI_APPLICATION = "northstar.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "northstar.core.context_processors.navigation",
            ],
        },
    },
]

# Databases: SQLite (WAL) by default, DATABASE_URL for PostgreSQL.
DATA_DIR = Path(env("NORTHSTAR_DATA_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'northstar.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # SQLite's page cache per connection (its default is 2 MB): inserting observations into the
    # (measure, ts) index of a big table reads a page per row when the index does not fit.
    # Memory is taken as pages are read, up to this size.
    SQLITE_CACHE_MB = env_int("SQLITE_CACHE_MB", 256)
    if SQLITE_CACHE_MB < 2:
        raise ImproperlyConfigured(f"SQLITE_CACHE_MB must be at least 2 (megabytes), not {SQLITE_CACHE_MB}.")
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of
        # failing mid-transaction, and the audit chain is appended one at a time.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000; "
            f"PRAGMA cache_size=-{SQLITE_CACHE_MB * 1024};"  # negative: KiB
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": env("NORTHSTAR_TEST_SQLITE", "") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins per account (or per client address x 4) within the window lock
# further attempts until the window passes. Counted from the audit trail, so
# the limit holds across any number of app servers.
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 5)
LOGIN_RATE_WINDOW_SECONDS = env_int("LOGIN_RATE_WINDOW_SECONDS", 900)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Third-party browser files are served from the installed packages themselves, never a CDN.
STATICFILES_DIRS = [("plotly", Path(plotly.__file__).parent / "package_data")]
STATIC_ROOT = Path(env("STATIC_ROOT", str(DATA_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves collected files from here
# Outside production, whitenoise serves straight from the apps and packages (no collectstatic).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "northstar@localhost")
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

# The month (1-12) the fiscal year starts in; fiscal years are named after the year they end in
# when they do not start in January (FY2027 runs from 2026-04-01 with FISCAL_YEAR_START_MONTH=4).
FISCAL_YEAR_START_MONTH = env_int("FISCAL_YEAR_START_MONTH", 1)
if not 1 <= FISCAL_YEAR_START_MONTH <= 12:
    raise ImproperlyConfigured("FISCAL_YEAR_START_MONTH must be a month number from 1 to 12.")
# Observations more than this far ahead of the server's clock are refused.
INGEST_MAX_FUTURE_SECONDS = env_int("INGEST_MAX_FUTURE_SECONDS", 3600)
# A full REST batch (10,000 observations with source ids) is a few megabytes.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024 * 1024)
# A scheduled pull (Prometheus or SQL) gives up after this many seconds.
PULL_TIMEOUT_SECONDS = env_int("PULL_TIMEOUT_SECONDS", 30)
# One REST batch takes at most this many observations.
INGEST_MAX_BATCH = env_int("INGEST_MAX_BATCH", 10000)

# The worker writes a heartbeat this often; /health reports it stale after 4x.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 15)

LOG_FORMAT = env("LOG_FORMAT", "text")  # "text" or "json"
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "northstar.core.logging.JsonFormatter"},
    },
    "filters": {"request_context": {"()": "northstar.core.logging.RequestContextFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT if LOG_FORMAT in {"text", "json"} else "text",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # 4xx answers are the callers' business (and audited where it matters); log server errors.
        "django.request": {"level": "ERROR"},
    },
}

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 1000
