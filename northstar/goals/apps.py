from django.apps import AppConfig


class GoalsConfig(AppConfig):
    name = "northstar.goals"
    label = "goals"
    verbose_name = "Goals"
