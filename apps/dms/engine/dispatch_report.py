"""What a dispatch reports beyond its set points: voltage violations and shortfalls with their cause
(issue 6: capability limit, voltage limit, DER unavailable, communication failure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from apps.dms.engine.dispatch_types import (
    Cause,
    DerState,
    DispatchOptions,
    DispatchRequest,
    Excluded,
    Shortfall,
    Violation,
)

V_TOL = 1e-4  # pu: below this, a limit is met (OpenDSS's own convergence is ~1e-6)
Q_SHORT = 0.02  # of max(|request|, Q_SHORT_FLOOR_KVAR): a Q miss beyond this is a shortfall
Q_SHORT_FLOOR_KVAR = 50.0
KW_SHORT = 1.0  # kW: a curtailment or DR miss beyond this is a shortfall


def violations(rows: Sequence[str], v: NDArray[np.float64], opt: DispatchOptions) -> tuple[Violation, ...]:
    """Node-phases outside [v_min, v_max] by more than `V_TOL`, worst first."""
    out = [Violation(k, float(x), "low") for k, x in zip(rows, v, strict=True) if x < opt.v_min - V_TOL]
    out += [Violation(k, float(x), "high") for k, x in zip(rows, v, strict=True) if x > opt.v_max + V_TOL]
    return tuple(sorted(out, key=lambda e: -excess_pu(e, opt)))


def excess_pu(v: Violation, opt: DispatchOptions) -> float:
    """How far outside its limit a violation is (pu)."""
    return max(opt.v_min - v.v_pu, v.v_pu - opt.v_max)


def worst_pu(found: Sequence[Violation], opt: DispatchOptions) -> float:
    """The largest excess among `found` (pu); 0 for none."""
    return max((excess_pu(v, opt) for v in found), default=0.0)


def no_worse(found: Sequence[Violation], than: Sequence[Violation], opt: DispatchOptions) -> bool:
    """`found` has no more violations than `than` and no larger worst one."""
    return len(found) <= len(than) and worst_pu(found, opt) <= worst_pu(than, opt)


def shortfalls(
    request: DispatchRequest,
    achieved: tuple[float, float, float],
    misses: tuple[float, float],
    stage2: bool,
    excluded: Sequence[tuple[Excluded, DerState]],
    left: Sequence[Violation] = (),
    opt: DispatchOptions | None = None,
) -> tuple[Shortfall, ...]:
    """Each request quantity missed by more than its tolerance, with the cause, and the violations
    `left` at the final set points. `achieved`: (Q kvar, PV curtailment kW, DR kW); `misses`: the
    stage-1 and final Q misses (kvar, + = too much import); `stage2`: the set points are stage 2's."""
    q, pv, dr = achieved
    out = []
    q_tol = Q_SHORT * max(abs(request.q_kvar), Q_SHORT_FLOOR_KVAR)
    if abs(q - request.q_kvar) > q_tol:
        out.append(_q_shortfall(request.q_kvar, q, misses, stage2, q_tol, excluded))
    if abs(pv - request.pv_curtailment_kw) > KW_SHORT:
        out.append(_p_shortfall("pv_curtailment", request.pv_curtailment_kw, pv, "pv", excluded, stage2))
    if abs(dr - request.dr_kw) > KW_SHORT:
        out.append(_p_shortfall("dr", request.dr_kw, dr, "load", excluded, stage2))
    if left:
        out.append(_voltage_shortfall(left, opt or DispatchOptions()))
    return tuple(out)


def _split_q_shortfall(requested: float, q: float, stage1_miss: float, spare_note: str) -> Shortfall:
    """Stage 1 already missed at the inverters' limits and stage 2 turned some inverters the other
    way to hold the voltages: name both parts, and blame the larger."""
    miss = q - requested
    way = "capacitive" if miss > 0 else "inductive"
    voltages = abs(miss) - abs(stage1_miss)
    cause: Cause = "voltage limit" if voltages >= abs(stage1_miss) else "capability limit"
    detail = (
        f"{abs(miss):.0f} kvar short: with every inverter at its {way} limit "
        f"{abs(stage1_miss):.0f} kvar were missing, and holding every voltage within limits cost "
        f"{voltages:.0f} kvar more{spare_note}"
    )
    return Shortfall("q", requested, q, cause, detail)


def _voltage_shortfall(left: Sequence[Violation], opt: DispatchOptions) -> Shortfall:
    """Node-phases the DERs could not bring back inside the limits (capacitors and regulators are
    not the dispatch's to move): the worst one's limit and voltage, and how many."""
    worst = max(left, key=lambda v: excess_pu(v, opt))
    limit = opt.v_max if worst.limit == "high" else opt.v_min
    plural = "s stay" if len(left) > 1 else " stays"
    detail = (
        f"{len(left)} node-phase{plural} outside {opt.v_min:g}–{opt.v_max:g} pu, worst {worst.node} at "
        f"{worst.v_pu:.4f} pu; the dispatched DERs cannot bring them back"
    )
    return Shortfall("voltage", limit, worst.v_pu, "voltage limit", detail)


def _q_shortfall(
    requested: float,
    q: float,
    misses: tuple[float, float],
    stage2: bool,
    tol: float,
    excluded: Sequence[tuple[Excluded, DerState]],
) -> Shortfall:
    miss = q - requested
    if stage2 and abs(misses[0]) <= tol:  # stage 1 met it: the limits took it away
        detail = f"holding every voltage within limits cost {abs(miss):.0f} kvar"
        return Shortfall("q", requested, q, "voltage limit", detail)
    spare = {e.cause: 0.0 for e, _ in excluded}  # what excluded inverters could add the missing way
    for e, d in excluded:
        if d.kind == "pv":
            room = math.sqrt(max(d.s_rated_kva**2 - e.p_kw**2, 0.0))
            q_lo, q_hi = d.q_range_kvar
            spare[e.cause] += max(
                min(room, q_hi) - e.q_kvar if miss > 0 else min(room, -q_lo) + e.q_kvar, 0.0
            )
    way = "capacitive" if miss > 0 else "inductive"
    if spare and sum(spare.values()) >= abs(miss):
        cause: Cause = max(spare, key=spare.__getitem__)
        names = ", ".join(e.name for e, _ in excluded if e.cause == cause)
        detail = f"{abs(miss):.0f} kvar short; {sum(spare.values()):.0f} kvar {way} sits with {names}"
        return Shortfall("q", requested, q, cause, detail)
    spare_note = f" (excluded DERs would add {sum(spare.values()):.0f} kvar)" if spare else ""
    if stage2 and abs(miss) > abs(misses[0]) + tol:  # stage 1 at the limits, stage 2 gave more up
        return _split_q_shortfall(requested, q, misses[0], spare_note)
    detail = f"every dispatched inverter is at its {way} limit; {abs(miss):.0f} kvar short{spare_note}"
    return Shortfall("q", requested, q, "capability limit", detail)


def _p_shortfall(
    quantity: str,
    requested: float,
    achieved: float,
    kind: str,
    excluded: Sequence[tuple[Excluded, DerState]],
    stage2: bool,
) -> Shortfall:
    out = [e for e, d in excluded if d.kind == kind]
    label = "PV curtailment" if kind == "pv" else "demand response"
    if stage2 and achieved > requested:  # stage 2 took more than asked to clear violations
        detail = f"{label}: {achieved - requested:.0f} kW more than requested to keep voltages within limits"
        return Shortfall(quantity, requested, achieved, "voltage limit", detail)  # type: ignore[arg-type]
    if out and achieved < requested:
        cause = out[0].cause
        detail = f"{label}: {requested - achieved:.0f} kW short; excluded: {', '.join(e.name for e in out)}"
        return Shortfall(quantity, requested, achieved, cause, detail)  # type: ignore[arg-type]
    detail = f"{label}: the dispatched DERs give {achieved:.0f} kW of {requested:.0f} kW"
    return Shortfall(quantity, requested, achieved, "capability limit", detail)  # type: ignore[arg-type]
