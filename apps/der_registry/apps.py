from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DerRegistryConfig(AppConfig):
    name = "apps.der_registry"
    label = "der_registry"
    verbose_name = "DER registry (IEEE 1547-2018)"

    def ready(self) -> None:
        # The 2030.5-2018 schema the operator supplied (settings.CREST_SEP2_SCHEMA_2018): with it the
        # 2030.5 server also speaks that edition. Loaded when first used.
        from apps.der_registry.engine.sep2 import xmlcodec
        from apps.der_registry.engine.sep2.editions import NS_2018

        path = settings.CREST_SEP2_SCHEMA_2018
        if path and not Path(path).is_file():
            raise ImproperlyConfigured(f"CREST_SEP2_SCHEMA_2018 names {path}, which is not a file.")
        xmlcodec.set_schema_path(Path(path) if path else None, NS_2018)
