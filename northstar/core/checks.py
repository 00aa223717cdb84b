"""`northstar check`: configuration problems in plain words (Django system checks)."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def configuration(app_configs, **kwargs):
    messages = []
    if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") and settings.EMAIL_HOST == "localhost" \
            and settings.PRODUCTION:
        messages.append(Warning(
            "EMAIL_HOST is localhost: notifications will only be delivered if a mail server runs there.",
            id="northstar.W002",
        ))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and settings.PRODUCTION:
        messages.append(Warning(
            "Production mode on SQLite: fine for one machine; use DATABASE_URL=postgres://... "
            "to run several app servers or workers.",
            id="northstar.W003",
        ))
    return messages


@register("database")
def database_reachable(app_configs, databases=None, **kwargs):
    """Run by `northstar check` (which passes --database default)."""
    from django.db import connections

    messages = []
    for alias in databases or []:
        try:
            connections[alias].ensure_connection()
        except Exception as error:  # noqa: BLE001  (any failure to connect is the finding)
            settings_dict = connections[alias].settings_dict
            where = f"{settings_dict.get('HOST') or ''}:{settings_dict.get('PORT') or ''}/{settings_dict.get('NAME')}"
            messages.append(Error(
                f"Cannot reach the database {where.strip(':/')}: {type(error).__name__}: {str(error).strip()[:200]}",
                hint="Check DATABASE_URL and that the server is running.",
                id="northstar.E010",
            ))
    return messages
