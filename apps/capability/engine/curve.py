"""The aggregated var capability curve of a feeder with DERs (DESIGN §3, seed 004 §III–V).

For each aggregated headroom h (the fraction of available PV held back, summed over DERs) the DER-OPF
finds the most negative (`q_min`, maximum capacitive support) and the most positive (`q_max`) net
substation Q, subject to the inverter disks and ANSI voltage limits, over per-DER headroom and var and
the continuous feeder-head OLTC tap: `linear_feeder.py` is the feeder model, `der_opf.py` the LP,
`slp.py` its sequential solution, `validation.py` the replay in OpenDSS.

Edges in kW / kvar, signs as DESIGN §7: a DER's q_kvar is injected (+ = capacitive support); the
substation's Q is drawn from the transmission system (+ = import).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from apps.capability.engine.der_opf import Direction
from apps.capability.engine.linear_feeder import S_BASE_KVA, Evaluation, LinearFeeder
from apps.capability.engine.pv import PVUnit
from apps.capability.engine.slp import DirectionSweep, SlpResult, infeasible_throughout
from apps.der_registry.engine.polygon import polygon_radius_loss
from apps.dms.engine.network import Network, OperatingState

DIRECTIONS: tuple[Direction, Direction] = ("min", "max")


@dataclass(frozen=True)
class DerSetpoint:
    bus: str
    phases: tuple[int, ...]
    p_kw: float
    q_kvar: float  # injected


@dataclass(frozen=True)
class Solution:
    """One end of the curve at one headroom: DER set points, feeder-head taps (OpenDSS name → ratio),
    what the substation draws and the model's voltages (constrained node-phases, pu) there."""

    ders: dict[str, DerSetpoint]
    taps: dict[str, float]
    p_kw: float
    q_kvar: float
    voltages_pu: dict[str, float]
    state: OperatingState  # the same point for a power-flow engine (real taps, v_tm, load scale)
    iterations: int
    converged: bool


@dataclass(frozen=True)
class CapabilityPoint:
    headroom: float
    feasible: bool
    min: Solution | None
    max: Solution | None
    solve_ms: float

    @property
    def q_min_kvar(self) -> float | None:
        return self.min.q_kvar if self.min else None

    @property
    def q_max_kvar(self) -> float | None:
        return self.max.q_kvar if self.max else None


@dataclass(frozen=True)
class CapabilityCurve:
    """`q_base_kvar`: substation Q at unity power factor, zero headroom and the network's solved taps.
    `polygon_loss`: the largest share of an inverter's disk radius the LP's polygon gives up."""

    q_base_kvar: float
    points: tuple[CapabilityPoint, ...]
    v_tm: float
    load_scale: float
    sides: int
    polygon_loss: float
    setup_ms: float  # OpenDSS calibration, LinDist3Flow build, Jacobian, LP build
    solve_ms: float  # every point, both directions

    def rpfr(self, point: CapabilityPoint) -> tuple[float, float] | None:
        """Reactive power flexibility region [q_min − q_base, q_max − q_base] (seed 004 eq. 27), kvar."""
        if point.q_min_kvar is None or point.q_max_kvar is None:
            return None
        return point.q_min_kvar - self.q_base_kvar, point.q_max_kvar - self.q_base_kvar


def capability_curve(
    net: Network,
    pv_units: Sequence[PVUnit],
    headrooms: Sequence[float],
    *,
    v_tm: float = 1.0,
    sides: int = 16,
    load_scale: float = 1.0,
    h_min: float = 0.0,
    all_voltage_rows: bool = False,
) -> CapabilityCurve:
    """q_min / q_max of the feeder's net substation Q at each aggregated headroom (fraction of the
    available PV held back), transmission-side voltage `v_tm` (pu), loads × `load_scale`, inverter
    disks as inscribed `sides`-gons, per-DER headroom ≥ `h_min`. The LPs take voltage rows as they bind
    (`der_opf.py`), or all of them with `all_voltage_rows`. ValueError on bad input."""
    _check_input(pv_units, headrooms, v_tm, sides, load_scale, h_min)
    started = time.perf_counter()
    feeder = LinearFeeder(net, pv_units, v_tm=v_tm, load_scale=load_scale)
    sweeps = [
        DirectionSweep.build(feeder, d, sides=sides, h_min=h_min, all_voltage_rows=all_voltage_rows)
        for d in DIRECTIONS
    ]
    setup_ms = 1000 * (time.perf_counter() - started)
    # The limits are the same both ways: where one direction proves a point infeasible (phase 1, the
    # slow part on a feeder outside its limits), the other need not prove it again; where no headroom
    # in the range meets them, no point needs to.
    checked = time.perf_counter()
    nowhere = infeasible_throughout(sweeps[0], headrooms)
    check_ms = 1000 * (time.perf_counter() - checked)
    low = [SlpResult(None, 0, False, 0.0) for _ in headrooms] if nowhere else sweeps[0].run(headrooms)
    low[0] = replace(low[0], solve_ms=low[0].solve_ms + check_ms)  # counted with the first
    high = sweeps[1].run(headrooms, infeasible=[r.point is None for r in low])
    points = tuple(_point(feeder, h, lo, hi) for h, lo, hi in zip(headrooms, low, high, strict=True))
    return CapabilityCurve(
        q_base_kvar=feeder.q_base_kvar,
        points=points,
        v_tm=v_tm,
        load_scale=load_scale,
        sides=sides,
        polygon_loss=polygon_radius_loss(sides),
        setup_ms=setup_ms,
        solve_ms=sum(p.solve_ms for p in points),
    )


MAX_POINTS = 1001  # headroom points per sweep: a 0.001 step over the whole [0, 1]


def headroom_range(start: float, stop: float, step: float) -> list[float]:
    """start, start + step, … ≤ stop (the `--headroom START:STOP:STEP` option)."""
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"Headroom step must be positive and finite, not {step}.")
    for value in (start, stop):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"Headroom {value} is outside [0, 1] (a fraction of the available PV).")
    if start > stop:
        raise ValueError(f"Headroom start {start} is above its stop {stop}.")
    # Compared as a float first: a tiny step (5e-324) makes the quotient infinite.
    intervals = (stop - start) / step + 1e-9
    if not intervals < MAX_POINTS:
        raise ValueError(f"Headroom step {step:g} gives more than {MAX_POINTS} points; use a larger step.")
    return [round(min(start + k * step, stop), 10) for k in range(math.floor(intervals) + 1)]


def parse_headroom(text: str) -> list[float]:
    """`START:STOP:STEP` → headroom values; ValueError with the reason otherwise."""
    parts = text.split(":")
    try:
        start, stop, step = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"Headroom must be START:STOP:STEP (fractions, e.g. 0:1:0.05), not {text!r}."
        ) from None
    return headroom_range(start, stop, step)


def to_json(curve: CapabilityCurve, detail: bool = False) -> dict[str, Any]:
    """DESIGN §7's `capability` document; infeasible points carry null q values (and solutions)."""
    points = []
    for p in curve.points:
        row: dict[str, Any] = {
            "headroom": round(p.headroom, 6),
            "q_min_kvar": _kvar(p.q_min_kvar),
            "q_max_kvar": _kvar(p.q_max_kvar),
            "feasible": p.feasible,
        }
        if detail:
            row["min"], row["max"] = _solution_json(p.min), _solution_json(p.max)
        points.append(row)
    return {"q_base_kvar": round(curve.q_base_kvar, 3), "points": points}


# --- results -----------------------------------------------------------------------------------------


def _solution(feeder: LinearFeeder, point: Evaluation, found: SlpResult) -> Solution:
    p, q = feeder.injections(point.x)
    ders = {
        u.name: DerSetpoint(u.bus, u.phases, float(pj) * S_BASE_KVA, float(qj) * S_BASE_KVA)
        for u, pj, qj in zip(feeder.units, p, q, strict=True)
    }
    voltages = dict(zip(feeder.rows, (float(v) for v in point.v), strict=True))
    return Solution(
        ders=ders,
        taps=feeder.taps(point.x),
        p_kw=point.p_kw,
        q_kvar=point.q_kvar,
        voltages_pu=voltages,
        state=feeder.state(point.x),
        iterations=found.iterations,
        converged=found.converged,
    )


def _point(feeder: LinearFeeder, h: float, low: SlpResult, high: SlpResult) -> CapabilityPoint:
    """Feasible when both directions found an answer (the same constraints bind both)."""
    ms = low.solve_ms + high.solve_ms
    if low.point is None or high.point is None:
        return CapabilityPoint(h, False, None, None, ms)
    lo, hi = _solution(feeder, low.point, low), _solution(feeder, high.point, high)
    return CapabilityPoint(h, True, lo, hi, ms)


# --- input checks and JSON ---------------------------------------------------------------------------


def _check_input(
    units: Sequence[PVUnit],
    headrooms: Sequence[float],
    v_tm: float,
    sides: int,
    load_scale: float,
    h_min: float,
) -> None:
    if not units:
        raise ValueError("The feeder has no DERs: add PV (add_pv) before computing its capability curve.")
    if len({u.name for u in units}) != len(units):
        raise ValueError("DER names must be unique.")
    if any(not u.p_avail_kw >= 0 or not u.s_rated_kva > 0 for u in units):
        raise ValueError("Every DER needs available PV ≥ 0 kW and an inverter rating > 0 kVA.")
    ratings = [q for u in units for q in (u.q_inj_max_kvar, u.q_abs_max_kvar) if q is not None]
    if any(not (math.isfinite(q) and q >= 0) for q in ratings):
        raise ValueError("Reactive power ratings must be finite and ≥ 0 kvar.")
    if not headrooms:
        raise ValueError("Give at least one headroom value.")
    if not 0.0 <= h_min <= 1.0:
        raise ValueError(f"Minimum per-DER headroom {h_min} is outside [0, 1].")
    for h in headrooms:
        if not h_min <= h <= 1.0:
            raise ValueError(f"Headroom {h} is outside [{h_min}, 1] (a fraction of the available PV).")
    if not (math.isfinite(v_tm) and v_tm > 0):
        raise ValueError(f"Transmission-side voltage v_tm must be a positive pu value, not {v_tm}.")
    if sides < 3:
        raise ValueError(f"The inverter polygon needs at least 3 sides, not {sides}.")
    if not (math.isfinite(load_scale) and load_scale > 0):
        raise ValueError(f"Load scale must be positive, not {load_scale}.")


def _kvar(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _solution_json(solution: Solution | None) -> dict[str, Any] | None:
    if solution is None:
        return None
    ders = {
        name: {"bus": d.bus, "phases": list(d.phases), "p_kw": round(d.p_kw, 3), "q_kvar": round(d.q_kvar, 3)}
        for name, d in solution.ders.items()
    }
    return {"ders": ders, "taps": {k: round(r, 6) for k, r in solution.taps.items()}}
