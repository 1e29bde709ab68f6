"""The next interval's flexibility, the step after a dispatch (DESIGN §2: "re-aggregation, limits
back to the EMS"; seed 000 §3.1.3): the range of substation Q the DERs that took part can offer at
the aggregate headroom the dispatch left them, by the capability curve (seed 004) at that one
headroom. DERs left out of the dispatch and controllable loads stay at what they were given, as
fixed generators in a copy of the network. Its own step, so the DMS engine does not depend on the
capability engine and a cycle can time it against its own budget."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

from apps.capability.engine.curve import capability_curve
from apps.capability.engine.pv import PVUnit
from apps.dms.engine.dispatch_types import DerState, DispatchResult, Flexibility
from apps.dms.engine.network import DerInjection, Generator, Network


def with_flexibility(
    net: Network, ders: Sequence[DerState], result: DispatchResult, load_scale: float = 1.0
) -> DispatchResult:
    """`result` with its next interval's flexibility and the time that took (`flexibility_ms`)."""
    started = time.perf_counter()
    flex = next_interval_flexibility(net, ders, result, load_scale)
    timings = {**result.timings_ms, "flexibility_ms": 1000 * (time.perf_counter() - started)}
    return dataclasses.replace(result, flexibility=flex, timings_ms=timings)


def next_interval_flexibility(
    net: Network, ders: Sequence[DerState], result: DispatchResult, load_scale: float = 1.0
) -> Flexibility | None:
    """The Q range at the dispatched aggregate headroom; None without dispatched PV or when the
    curve cannot be computed at that point."""
    by_name = {d.name: d for d in ders}
    taking_part = [by_name[s.name] for s in result.setpoints]
    units = [
        PVUnit(d.name, d.bus, d.phases, d.p_max_kw, d.s_rated_kva, -d.q_range_kvar[0], d.q_range_kvar[1])
        for d in taking_part
        if d.kind == "pv"
    ]
    if not units:
        return None
    available_kw = sum(u.p_avail_kw for u in units)
    given_kw = sum(s.p_limit_kw for s in result.setpoints if s.kind == "pv")
    headroom = min(max(1.0 - given_kw / available_kw, 0.0), 1.0) if available_kw > 0 else 0.0
    held = {
        e.name: DerInjection(by_name[e.name].bus, by_name[e.name].phases, e.p_kw, e.q_kvar)
        for e in result.excluded
    }
    for s in result.setpoints:
        if s.kind == "load":
            d = by_name[s.name]
            held[s.name] = DerInjection(d.bus, d.phases, s.p_limit_kw, s.q_kvar)
    with_held = dataclasses.replace(net, generators=net.generators + _generators(net, held))
    try:
        curve = capability_curve(
            with_held, units, [round(headroom, 6)], v_tm=result.request.v_sub_pu, load_scale=load_scale
        )
    except ValueError:
        return None
    point = curve.points[0]
    return Flexibility(point.headroom, point.q_min_kvar, point.q_max_kvar)


def _generators(net: Network, held: dict[str, DerInjection]) -> tuple[Generator, ...]:
    out = []
    for name, der in held.items():
        kv = net.bus[der.bus].base_kv_ln * (1.0 if len(der.phases) == 1 else math.sqrt(3))
        kva = max(abs(complex(der.p_kw, der.q_kvar)), 1e-3)
        out.append(Generator(f"held-{name}", der.bus, tuple(der.phases), der.p_kw, der.q_kvar, kva, kv))
    return tuple(out)
