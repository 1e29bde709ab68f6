from django.apps import AppConfig


class CapabilityConfig(AppConfig):
    name = "apps.capability"
    label = "capability"
    verbose_name = "Var capability curves"
