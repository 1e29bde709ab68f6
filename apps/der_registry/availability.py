"""The available active power a DER itself reported, read from the registry's IEEE 2030.5 store."""

from __future__ import annotations

import datetime as dt

from apps.der_registry.models import DER


def reported_available_kw(der: DER, now: dt.datetime, max_age_s: float) -> float | None:
    """The available active power the unit itself last reported (IEEE 2030.5 DERAvailability
    statWAvail, W), if reported within `max_age_s`; else None. The registry's IEEE 1547 monitoring
    has no such quantity, and DNP3 units report none. Pass `select_related("sep2")` querysets."""
    edev = getattr(der, "sep2", None)
    watts = edev.availability.get("statWAvail") if edev is not None else None
    at = edev.reported_at.get("dera") if edev is not None else None
    if watts is None or at is None:
        return None
    age_s = (now - dt.datetime.fromisoformat(at)).total_seconds()
    return float(watts) / 1000.0 if age_s <= max_age_s else None
