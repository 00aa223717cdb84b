from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "northstar.core"
    label = "core"
    verbose_name = "Northstar core"

    def ready(self):
        from northstar.core import checks  # noqa: F401  (registers system checks)
