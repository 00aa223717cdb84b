from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "northstar.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from northstar.audit import signals  # noqa: F401  (login, logout, failed login)
