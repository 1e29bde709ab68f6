"""The feeder as the last dispatch left it, for the feeder page (issue #14 item 2): the model of the
run's version, its loads allocated by the run's factors, every dispatched DER at its set point (a PV
unit at the lesser of its available P and its limit, a controllable load's reduction as an
injection) and the source at the run's substation voltage. DERs the run left out are not in it:
it is the state the dispatch solved for, not a new estimate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.der_registry.models import DER
from apps.dms.engine.feeder_ders import without_elements
from apps.dms.engine.load_allocation import scaled_loads
from apps.dms.engine.network import Network
from apps.dms.engine.powerflow_types import DerInjection, OperatingState
from apps.dms.models import DispatchRun, Feeder, FeederVersion


@dataclass(frozen=True)
class Dispatched:
    run: DispatchRun
    net: Network
    state: OperatingState
    description: str


def latest_dispatched(feeder: Feeder, version: FeederVersion, net: Network) -> Dispatched | None:
    """The newest finished run on this version with set points, as a state to solve; None if none."""
    run = (
        DispatchRun.objects.filter(feeder=feeder, feeder_version=version, status=DispatchRun.Status.DONE)
        .order_by("-created_at", "-id")
        .first()
    )
    if run is None or not (run.result or {}).get("setpoints"):
        return None
    doc: dict[str, Any] = run.result
    where = {
        d.name: (d.bus, tuple(d.phases))
        for d in DER.objects.filter(feeder=feeder).only("name", "bus", "phases")
    }
    ders = {}
    for sp in doc["setpoints"]:
        if sp["name"] not in where:
            continue
        bus, phases = where[sp["name"]]
        p = sp["p_limit_kw"] if sp["kind"] == "load" else min(sp["p_avail_kw"], sp["p_limit_kw"])
        ders[sp["name"]] = DerInjection(bus, phases, p, sp["q_kvar"])
    allocation = doc.get("load_allocation") or {}
    k_p, k_q = float(allocation.get("k_p", 1.0)), float(allocation.get("k_q", 1.0))
    description = (
        f"after dispatch run {run.pk} ({run.created_at:%Y-%m-%d %H:%M} UTC): {len(ders)} DERs at their "
        f"set points, loads × {k_p:.3f} (P) and × {k_q:.3f} (Q), substation at {run.v_sub_pu:.4f} pu"
    )
    net = without_elements(net, doc.get("replaced_elements") or [])  # as the run solved it
    return Dispatched(
        run, scaled_loads(net, k_p, k_q), OperatingState(ders=ders, source_pu=run.v_sub_pu), description
    )
