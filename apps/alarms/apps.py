from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "apps.alarms"
    label = "alarms"
    verbose_name = "Alarms"
