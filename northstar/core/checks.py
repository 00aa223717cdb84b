"""`northstar check`: configuration problems in plain words (Django system checks)."""

from django.conf import settings
from django.core.checks import Warning, register


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
