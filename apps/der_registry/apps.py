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
        _set_pen(str(settings.CREST_SEP2_PEN))


def _set_pen(value: str) -> None:
    """The PEN the operator configured, in the mRIDs the 2030.5 server mints; a bad one stops start-up."""
    from apps.der_registry.engine.sep2 import resources

    try:
        resources.set_pen(int(value.strip()))
    except ValueError:
        raise ImproperlyConfigured(
            f"CREST_SEP2_PEN is {value!r}: give the utility's IANA private enterprise number, "
            f"a whole number from 0 to {resources.MAX_PEN}."
        ) from None
