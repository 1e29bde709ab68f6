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
from apps.dms.engine import opendss_pf
from apps.dms.engine.dispatch_types import DerState, DispatchResult, Flexibility, exclusion
from apps.dms.engine.load_allocation import present_injections
from apps.dms.engine.network import DerInjection, Generator, Network, OperatingState


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


def present_range(
    net: Network, ders: Sequence[DerState], v_tm: float, interval_s: float
) -> Flexibility | None:
    """The range of substation Q the DERs that could take part now offer with no PV held back (the
    seed 004 curve at zero headroom): what the DMS answers when the EMS asks for its capability
    before it has dispatched anything this interval. DERs that would sit a dispatch out stay at their
    present output. None without such PV or when the point cannot be computed."""
    able = [d for d in ders if d.kind == "pv" and exclusion(d, interval_s) is None]
    units = [
        PVUnit(d.name, d.bus, d.phases, d.p_max_kw, d.s_rated_kva, -d.q_range_kvar[0], d.q_range_kvar[1])
        for d in able
    ]
    if not units:
        return None
    taking = {d.name for d in able}
    held = {d.name: DerInjection(d.bus, d.phases, d.p_kw, d.q_kvar) for d in ders if d.name not in taking}
    with_held = dataclasses.replace(net, generators=net.generators + _generators(net, held))
    try:
        curve = capability_curve(with_held, units, [0.0], v_tm=v_tm)
    except ValueError:
        return None
    point = curve.points[0]
    return Flexibility(point.headroom, point.q_min_kvar, point.q_max_kvar)


def range_now(
    net: Network, ders: Sequence[DerState], v_tm: float, interval_s: float
) -> tuple[float, float, str]:
    """[q_min, q_max] of substation Q drawn now and a note: `present_range`, or — when no DER can
    offer any — the present substation Q as a range of one point (no room is claimed)."""
    flex = present_range(net, ders, v_tm, interval_s)
    if flex is not None and flex.q_min_kvar is not None and flex.q_max_kvar is not None:
        return flex.q_min_kvar, flex.q_max_kvar, ""
    state = OperatingState(1.0, present_injections(ders), {}, v_tm)
    q_kvar = opendss_pf.solve(net, state).substation_q_kvar
    return q_kvar, q_kvar, "no DER can offer reactive power now: the range is the present Q"


def _generators(net: Network, held: dict[str, DerInjection]) -> tuple[Generator, ...]:
    out = []
    for name, der in held.items():
        kv = net.bus[der.bus].base_kv_ln * (1.0 if len(der.phases) == 1 else math.sqrt(3))
        kva = max(abs(complex(der.p_kw, der.q_kvar)), 1e-3)
        out.append(Generator(f"held-{name}", der.bus, tuple(der.phases), der.p_kw, der.q_kvar, kva, kv))
    return tuple(out)
