from django.apps import AppConfig


class CycleConfig(AppConfig):
    name = "apps.cycle"
    label = "cycle"
    verbose_name = "Coordination cycle"
