"""Turning the registry's DERs and their telemetry into dispatch-engine inputs, and dispatch results
into stored documents."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from django.utils import timezone

from apps.alarms.models import Alarm
from apps.der_registry.availability import reported_available_kw
from apps.der_registry.engine.availability import available_pv_kw
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DER
from apps.dms.engine.dispatch_types import DerState, DispatchResult
from apps.dms.engine.load_allocation import allocate, present_injections, scaled_loads
from apps.dms.engine.network import Network
from apps.dms.head import fresh_head
from apps.dms.models import Feeder
from apps.standards.timing import STALE_INTERVALS

RATINGS = ("apparent_power_kva", "active_power_kw", "reactive_injected_kvar", "reactive_absorbed_kvar")


def der_states(feeder: Feeder, interval_s: float) -> tuple[list[DerState], dict[str, int]]:
    """Active DERs of `feeder` as smart inverters at their effective ratings: present output and
    telemetry age from the newest monitoring value, communication failed while a communication-failure
    alarm is active, PV available as `available_pv_kw` has it (never the present output). Also name →
    DER id."""
    now = timezone.now()
    failed = set(
        Alarm.objects.filter(
            kind=Alarm.Kind.COMM_FAILURE, source_type="der", cleared_at__isnull=True
        ).values_list("source_id", flat=True)
    )
    states, ids = [], {}
    active = DER.objects.filter(feeder=feeder, status=Status.ACTIVE).select_related("latest", "sep2")
    for der in active.order_by("name"):
        eff = {k: float(v.value or 0.0) for k, v in der.effective().items() if k in RATINGS}
        s_kva, p_max = eff["apparent_power_kva"], eff["active_power_kw"]
        latest = getattr(der, "latest", None)
        p = min(max(float(latest.p_kw), 0.0), p_max) if latest and latest.p_kw is not None else 0.0
        q = float(latest.q_kvar) if latest and latest.q_kvar is not None else 0.0
        online = latest is None or latest.connection_status != "disconnected"
        states.append(
            DerState(
                der.name,
                der.bus,
                tuple(der.phases),
                "pv",
                available_pv_kw(p_max, reported_available_kw(der, now, STALE_INTERVALS * interval_s)),
                s_kva,
                p,
                q,
                telemetry_age_s=latest.age_s(now) if latest else None,
                comm_ok=str(der.pk) not in failed,
                online=online,
                # the effective ratings the registry checks a set point against (do_issue_setpoint)
                p_rated_kw=p_max,
                q_inj_max_kvar=eff["reactive_injected_kvar"],
                q_abs_max_kvar=eff["reactive_absorbed_kvar"],
                clock_offset_s=latest.clock_offset_s if latest else None,
            )
        )
        ids[der.name] = der.pk
    return states, ids


def allocated(
    feeder: Feeder, net: Network, ders: list[DerState], interval_s: float
) -> tuple[Network, dict[str, Any]]:
    """The feeder's model with its loads allocated to the newest fresh substation reading (the DERs
    at their present output), and what was done, for the run's result. Without a fresh reading,
    or when the reading cannot be matched at all, the model's own load, and the reason."""
    fresh = fresh_head(feeder.name, interval_s)
    if fresh is None:
        minutes = STALE_INTERVALS * interval_s / 60
        return net, {"method": "nominal", "note": f"no substation reading in the last {minutes:g} min"}
    try:
        found = allocate(net, present_injections(ders), fresh.reading)
    except ValueError as exc:
        return net, {"method": "nominal", "note": f"substation reading not used: {exc}"}
    doc = {**found.as_json(fresh.reading), "measured_at": fresh.measured_at.isoformat(), "reading": fresh.pk}
    return scaled_loads(net, found.k_p, found.k_q), _rounded(doc)


def without_confirmation(states: list[DerState], names: list[str]) -> list[DerState]:
    """A re-optimization's DERs: those that did not confirm the first set points (`names`) count as
    out of communication, so the dispatch leaves them where they are and a shortfall they cause is
    put down to a communication failure (apps/dms/engine/dispatch_report.py)."""
    out = set(names)
    return [dataclasses.replace(s, comm_ok=False) if s.name in out else s for s in states]


def result_doc(result: DispatchResult) -> dict[str, Any]:
    """The stored form of a dispatch result (rounded; JSON-safe). Set points are rounded toward zero
    so rounding never carries one past a rating the registry checks."""
    doc = dataclasses.asdict(result)
    doc.pop("request")
    doc = _rounded(doc)
    for sp, exact in zip(doc["setpoints"], result.setpoints, strict=True):
        sp["p_limit_kw"], sp["q_kvar"] = _toward_zero(exact.p_limit_kw), _toward_zero(exact.q_kvar)
    # Counts under violations_* (what the answer to the EMS reads), the node-phases beside them.
    for when in ("before", "after"):
        doc[f"violating_nodes_{when}"] = doc.pop(f"violations_{when}")
        doc[f"violations_{when}"] = len(doc[f"violating_nodes_{when}"])
    return doc


def _toward_zero(value: float) -> float:
    return math.trunc(value * 1e4) / 1e4


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value
