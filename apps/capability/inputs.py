"""Turning stored feeders, registry DERs and command-line text into capability-engine inputs."""

from __future__ import annotations

import dataclasses

from django.utils import timezone

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
                # The same reactive ratings a set point is checked against: the curve offers no
                # more than the DERs could be told to give.
                q_inj_max_kvar=eff["reactive_injected_kvar"].value,
                q_abs_max_kvar=eff["reactive_absorbed_kvar"].value,
            )
        )
    return units


def live_pv_units(feeder: Feeder) -> tuple[list[PVUnit], list[str]]:
    """Active DERs with fresh telemetry, available PV = their present output (within the rating);
    DERs whose telemetry is stale or missing are left out and named (DESIGN §9)."""
    now = timezone.now()
    stale = set(
        DER.objects.filter(feeder=feeder, status=Status.ACTIVE)
        .with_stale_telemetry(now)
        .values_list("name", flat=True)
    )
    units, latest = [], {}
    for der in DER.objects.filter(feeder=feeder, status=Status.ACTIVE).select_related("latest"):
        latest[der.name] = getattr(der, "latest", None)
    for unit in registry_pv_units(feeder):
        sample = latest.get(unit.name)
        if unit.name in stale or sample is None or sample.p_kw is None:
            continue
        units.append(dataclasses.replace(unit, p_avail_kw=min(max(sample.p_kw, 0.0), unit.p_avail_kw)))
    return units, sorted(stale)
