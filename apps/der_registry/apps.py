from django.apps import AppConfig


class DerRegistryConfig(AppConfig):
    name = "apps.der_registry"
    label = "der_registry"
    verbose_name = "DER registry (IEEE 1547-2018)"
