"""What a dispatch takes and gives (seed 000 §3.1.2, seed 002): the EMS request, each DER's present
state, the per-DER set points, violations and shortfalls. Engineering units at these edges (kW, kvar,
pu); signs as DESIGN §7 — a DER's q_kvar is injected (+ = capacitive support), the substation's Q is
drawn from the transmission system (+ = import).

Input checks live here too: a request the engine cannot honour is refused with a reason an operator
understands (`DispatchInputError`), before anything is computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from apps.der_registry.engine.device_clock import clock_problem
from apps.dms.engine.network import Network
from apps.standards.ansi import V_MAX_PU, V_MIN_PU
from apps.standards.timing import INTERVAL_S, STALE_INTERVALS

DerKind = Literal["pv", "load"]  # smart inverter; controllable load (demand response)
Cause = Literal["capability limit", "voltage limit", "DER unavailable", "communication failure"]
MAX_ABS_Q_KVAR = 1e6  # beyond any distribution feeder: a typo, not a request
V_SUB_RANGE = (0.9, 1.1)


class DispatchInputError(ValueError):
    """A dispatch the engine refuses; the message says why in an operator's words."""


@dataclass(frozen=True)
class DispatchRequest:
    """The EMS request (seed 000 §3.2.1): reactive power at the substation, substation voltage,
    aggregated PV curtailment and demand-response requirement."""

    q_kvar: float  # drawn at the substation, + = import
    v_sub_pu: float
    pv_curtailment_kw: float = 0.0
    dr_kw: float = 0.0


@dataclass(frozen=True)
class DerState:
    """One dispatchable resource now. PV: `p_avail_kw` is the PV available, `s_rated_kva` the inverter
    rating, `p_rated_kw` / `q_inj_max_kvar` / `q_abs_max_kvar` its active and reactive ratings (None:
    the kVA). Controllable load: `p_avail_kw` is the largest reduction it offers, `s_rated_kva` 0 (no
    vars), `p_kw` its present reduction. `telemetry_age_s` None: never reported."""

    name: str
    bus: str
    phases: tuple[int, ...]
    kind: DerKind
    p_avail_kw: float
    s_rated_kva: float
    p_kw: float
    q_kvar: float = 0.0
    telemetry_age_s: float | None = 0.0
    comm_ok: bool = True
    online: bool = True
    dr_cost_per_kwh: float = 0.0
    p_rated_kw: float | None = None
    q_inj_max_kvar: float | None = None
    q_abs_max_kvar: float | None = None
    # device time − arrival of its newest sample, s, when a day or more (device_clock); None: clock ok
    clock_offset_s: float | None = None

    @property
    def p_max_kw(self) -> float:
        """The most P a set point may give: the offered reduction, or the PV available within the
        active power rating and the kVA."""
        if self.kind == "load":
            return self.p_avail_kw
        rated = self.s_rated_kva if self.p_rated_kw is None else min(self.p_rated_kw, self.s_rated_kva)
        return min(self.p_avail_kw, rated)

    @property
    def q_range_kvar(self) -> tuple[float, float]:
        """(lowest, highest) injected Q: the reactive ratings within the kVA disk; a load none."""
        # IEEE 1547-2018 §5.2: a DER's reactive capability is its own rating, often below its kVA.
        if self.kind == "load":
            return 0.0, 0.0
        inj = self.s_rated_kva if self.q_inj_max_kvar is None else min(self.q_inj_max_kvar, self.s_rated_kva)
        ab = self.s_rated_kva if self.q_abs_max_kvar is None else min(self.q_abs_max_kvar, self.s_rated_kva)
        return -ab, inj


@dataclass(frozen=True)
class DispatchOptions:
    interval_s: float = INTERVAL_S
    load_scale: float = 1.0
    v_min: float = V_MIN_PU
    v_max: float = V_MAX_PU


@dataclass(frozen=True)
class Setpoint:
    """Active–reactive power mode: a P limit and a Q injection (for a load, the P reduction)."""

    name: str
    kind: DerKind
    p_limit_kw: float
    q_kvar: float
    p_avail_kw: float  # the most P it could give (PV available within its rating; offered reduction)


@dataclass(frozen=True)
class Excluded:
    name: str
    cause: Cause
    reason: str
    p_kw: float  # held as a fixed injection
    q_kvar: float


@dataclass(frozen=True)
class Violation:
    node: str
    v_pu: float
    limit: Literal["low", "high"]


@dataclass(frozen=True)
class Shortfall:
    """A request quantity missed, or ("voltage") node-phases left outside the limits: then `requested`
    is the limit broken and `achieved` the worst voltage left (pu)."""

    quantity: Literal["q", "pv_curtailment", "dr", "voltage"]
    requested: float
    achieved: float
    cause: Cause
    detail: str


@dataclass(frozen=True)
class Flexibility:
    """Next interval's range of substation Q at the dispatched aggregate headroom (capability engine),
    from the DERs that took part; None bounds when that point is infeasible."""

    headroom: float
    q_min_kvar: float | None
    q_max_kvar: float | None


@dataclass(frozen=True)
class DispatchResult:
    request: DispatchRequest
    setpoints: tuple[Setpoint, ...]
    q_achieved_kvar: float  # OpenDSS, at the final set points
    p_substation_kw: float
    pv_curtailment_kw: float  # Σ over the dispatched PV of (available − P limit)
    pv_available_kw: float  # Σ available over the dispatched PV
    dr_kw: float
    violations_before: tuple[Violation, ...]  # OpenDSS at the stage-1 set points
    violations_after: tuple[Violation, ...]  # OpenDSS at the final set points
    v_min_pu_before: float  # over the node-phases the limits apply to, at the stage-1 set points
    v_max_pu_before: float
    v_min_pu_after: float  # the same at the final set points
    v_max_pu_after: float
    stage2_ran: bool
    kept_stage: int  # 1 or 2: whose set points these are (stage 2's only when no worse)
    stage2_note: str  # which stage's answer was kept and why; "" when stage 2 did not run
    shortfalls: tuple[Shortfall, ...]
    excluded: tuple[Excluded, ...]
    flexibility: Flexibility | None = None  # the capability engine's step after the dispatch
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def q_error_pct(self) -> float:
        return 100 * abs(self.q_achieved_kvar - self.request.q_kvar) / max(abs(self.request.q_kvar), 1.0)


def check_input(
    net: Network, request: DispatchRequest, ders: Sequence[DerState], opt: DispatchOptions
) -> None:
    """Refuse what cannot be dispatched: non-finite or absurd numbers, a feeder without DERs, DERs on
    buses or phases the feeder lacks."""
    check_request(request)
    if not ders:
        raise DispatchInputError(f"Feeder {net.name} has no DERs to dispatch.")
    if len({d.name for d in ders}) != len(ders):
        raise DispatchInputError("DER names must be unique.")
    for d in ders:
        _check_der(net, d)
    if not (math.isfinite(opt.interval_s) and opt.interval_s > 0):
        raise DispatchInputError(
            f"The dispatch interval must be a positive number of seconds, not {opt.interval_s}."
        )
    if not (math.isfinite(opt.load_scale) and opt.load_scale > 0):
        raise DispatchInputError(f"The load scale must be positive, not {opt.load_scale}.")


def check_request(r: DispatchRequest) -> None:
    """Refuse a request with non-finite or absurd numbers."""
    values = {"reactive power": r.q_kvar, "substation voltage": r.v_sub_pu}
    values |= {"PV curtailment": r.pv_curtailment_kw, "demand response": r.dr_kw}
    for label, value in values.items():
        if not math.isfinite(value):
            raise DispatchInputError(f"The requested {label} is not a number ({value}).")
    if abs(r.q_kvar) > MAX_ABS_Q_KVAR:
        raise DispatchInputError(f"A reactive power request of {r.q_kvar:g} kvar is beyond any feeder.")
    if not V_SUB_RANGE[0] <= r.v_sub_pu <= V_SUB_RANGE[1]:
        raise DispatchInputError(
            f"Substation voltage {r.v_sub_pu:g} pu is outside {V_SUB_RANGE[0]}–{V_SUB_RANGE[1]} pu."
        )
    if r.pv_curtailment_kw < 0 or r.dr_kw < 0:
        raise DispatchInputError("PV curtailment and demand response are reductions: give them ≥ 0 kW.")
    if max(r.pv_curtailment_kw, r.dr_kw) > MAX_ABS_Q_KVAR:
        raise DispatchInputError("The PV curtailment or demand-response request is beyond any feeder.")


def _check_der(net: Network, d: DerState) -> None:
    if d.bus not in net.bus or not set(d.phases) <= set(net.bus[d.bus].phases) or not d.phases:
        raise DispatchInputError(f"DER {d.name} is on {d.bus}.{d.phases}, which feeder {net.name} lacks.")
    numbers = (d.p_avail_kw, d.s_rated_kva, d.p_kw, d.q_kvar, d.dr_cost_per_kwh)
    ratings = [x for x in (d.p_rated_kw, d.q_inj_max_kvar, d.q_abs_max_kvar) if x is not None]
    if (
        not all(math.isfinite(x) for x in (*numbers, *ratings))
        or min(d.p_avail_kw, d.s_rated_kva, *ratings) < 0
    ):
        raise DispatchInputError(f"DER {d.name} has a non-finite or negative rating or output.")
    if d.kind == "pv" and d.s_rated_kva <= 0:
        raise DispatchInputError(f"PV {d.name} needs an inverter rating above 0 kVA.")


def exclusion(d: DerState, interval_s: float) -> Excluded | None:
    """Why `d` sits this dispatch out, if it does: no communication, no telemetry, a device clock far
    off, no fresh telemetry (older than two intervals), or offline. Its present output stays in the
    network as a fixed injection."""
    if not d.comm_ok:
        return Excluded(d.name, "communication failure", "communication failed", d.p_kw, d.q_kvar)
    if d.telemetry_age_s is None:
        return Excluded(d.name, "DER unavailable", "no telemetry received", d.p_kw, d.q_kvar)
    if d.clock_offset_s is not None:  # its times say nothing of its age: send the operator to the clock
        reason = f"{clock_problem(d.clock_offset_s)}; its telemetry times can't be trusted"
        return Excluded(d.name, "DER unavailable", reason, d.p_kw, d.q_kvar)
    if d.telemetry_age_s > STALE_INTERVALS * interval_s:
        reason = f"telemetry {format_age(d.telemetry_age_s)} old (> {STALE_INTERVALS} intervals)"
        return Excluded(d.name, "DER unavailable", reason, d.p_kw, d.q_kvar)
    if not d.online:
        return Excluded(d.name, "DER unavailable", "reported off or disconnected", d.p_kw, d.q_kvar)
    return None


def format_age(age_s: float) -> str:
    """An age for people: "45 s", "12 min", "2 h 37 min", "3 d 4 h"."""
    s = max(round(age_s), 0)
    if s < 60:
        return f"{s} s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"
