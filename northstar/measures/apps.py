from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    name = "northstar.measures"
    label = "measures"
    verbose_name = "Measures"
