from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "northstar.scoring"
    label = "scoring"
    verbose_name = "Scoring"
