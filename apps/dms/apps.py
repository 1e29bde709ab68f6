from django.apps import AppConfig


class DmsConfig(AppConfig):
    name = "apps.dms"
    label = "dms"
    verbose_name = "Distribution (feeders, DMS)"
