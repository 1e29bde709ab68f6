from django.apps import AppConfig


class EmsConfig(AppConfig):
    name = "apps.ems"
    label = "ems"
    verbose_name = "Transmission (EMS)"
