"""Turning stored feeders, registry DERs and command-line text into capability-engine inputs."""

from __future__ import annotations

import dataclasses

from django.utils import timezone

from apps.capability.engine.pv import PVUnit
from apps.der_registry.availability import reported_available_kw
from apps.der_registry.engine.availability import available_pv_kw
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DER, DERQuerySet
from apps.dms.models import Feeder


def _active(feeder: Feeder) -> DERQuerySet:
    return DER.objects.filter(feeder=feeder, status=Status.ACTIVE)


def _pv_unit(der: DER) -> PVUnit:
    """The DER at its effective ratings (configuration when agreed)."""
    eff = der.effective()
    return PVUnit(
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


def registry_pv_units(feeder: Feeder) -> list[PVUnit]:
    """Active DERs of the feeder at their effective ratings (configuration when agreed)."""
    return [_pv_unit(der) for der in _active(feeder).order_by("name")]


def live_pv_units(feeder: Feeder) -> tuple[list[PVUnit], list[str]]:
    """Active DERs with fresh telemetry, available PV = what each could produce now (its reported
    available power while fresh, else its rating × irradiance: `available_pv_kw`), never its present
    output, which after a P limit is the limit; DERs whose telemetry is stale or missing are left out
    and named (DESIGN §9)."""
    now = timezone.now()
    stale = set(_active(feeder).with_stale_telemetry(now).values_list("name", flat=True))
    units = []
    for der in _active(feeder).select_related("latest", "sep2").order_by("name"):
        sample = getattr(der, "latest", None)
        if der.name in stale or sample is None:
            continue
        unit = _pv_unit(der)
        reported = reported_available_kw(der, now, max_age_s=der.expected_update_s)
        units.append(dataclasses.replace(unit, p_avail_kw=available_pv_kw(unit.p_avail_kw, reported)))
    return units, sorted(stale)
