"""Turning stored feeders, registry DERs and command-line text into capability-engine inputs."""

from __future__ import annotations

from apps.capability.engine.pv import PVUnit
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DER
from apps.dms.models import Feeder


def registry_pv_units(feeder: Feeder) -> list[PVUnit]:
    """Active DERs of the feeder at their effective ratings (configuration when agreed)."""
    units = []
    for der in DER.objects.filter(feeder=feeder, status=Status.ACTIVE).order_by("name"):
        eff = der.effective()
        units.append(
            PVUnit(
                name=der.name,
                bus=der.bus,
                phases=tuple(der.phases),
                p_avail_kw=float(eff["active_power_kw"].value or 0.0),
                s_rated_kva=float(eff["apparent_power_kva"].value or 0.0),
            )
        )
    return units
