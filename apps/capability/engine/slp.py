"""Sequential linear programming for one direction (min or max substation Q) of the capability curve.

The DER-OPF (`der_opf.py`) is linear around one operating point. Per headroom point: solve the LP, run
the refreshed LinDist3Flow power flow at its answer, re-linearize there (new constant terms, and the
tap's Q curve afresh; the DER Jacobian stays), repeat until the power flow confirms the LP's prediction
(|ΔV| ≤ `TOL_V_PU`, |ΔQ| ≤ `TOL_Q_KVAR`) with the tap's Q curve taken where the tap ended. The answer
therefore meets the voltage limits in the refreshed power flow, itself within ~0.05 % of OpenDSS.

Safeguards, each standard for SLP: the tap moves at most `TAP_STEP` per LP (its Q curve is known only
near where it was taken, and bends: shunt Q grows with |V|², losses fall with it, and OpenDSS's loads
turn constant-impedance outside [vminpu, vmaxpu]); a confirmed step that makes Q worse is taken back
and retried with half the tap move (a trust-region ratio test); from iteration `TRUST_AFTER` on, a
shrinking box around the point stops the LP from swapping between near-equivalent vertices. When the
limits cannot be met at a linearization, phase 1 minimizes the largest violation; the point is
infeasible when that minimum, confirmed by the power flow, stays positive. Consecutive headroom points
start from the previous answer.

Where a limit binds at a load's vmaxpu (vminpu) step, OpenDSS's CVR loads jump in power as they
cross it and the limit voltage itself is not reachable (EPRI ckt7: 1.0494 or 1.0507 pu, never 1.05);
the SLP then swings across the step and never confirms. It stops after `STALL_ITERATIONS` without a
better feasible point and answers with the best one the power flow found within the limits, marked
not converged.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apps.capability.engine.der_opf import (
    DerOpf,
    Direction,
    LpSolution,
    build_der_opf,
    set_trust_region,
    solve_at,
)
from apps.capability.engine.linear_feeder import S_BASE_KVA, Evaluation, FArray, LinearFeeder, TapModel
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

TOL_V_PU = 1e-4  # the power flow's |V| within this of the LP's prediction …
TOL_Q_KVAR = 0.5  # … and its substation Q within this: converged
MAX_ITERATIONS = 25
TRUST_AFTER = 3  # SLP iteration from which a trust region shrinks the steps
TAP_STEP = 0.02  # largest tap move per LP
TAP_REFRESH = 0.01  # re-take the tap's Q curve once the tap is this far from where it was taken …
TAP_CHECK = 0.002  # … and at the answer, unless it was taken within this
WORSE_KVAR = 1e-3  # a confirmed step that loses more than this was misled: step back
STALL_ITERATIONS = 6  # no feasible point better by STALL_KVAR in this many iterations: stalled …
STALL_KVAR = 0.5  # … (a CVR load's step at vmaxpu: the voltage the LP aims for is not reachable)


@dataclass(frozen=True)
class SlpResult:
    """One headroom point in one direction: the answer (None: infeasible) and how it was reached."""

    point: Evaluation | None
    iterations: int
    converged: bool
    solve_ms: float


@dataclass
class DirectionSweep:
    """One direction's LP, its phase-1 (minimum violation) twin built when first needed, and the tap's
    last Q curve (its curvature carries from point to point; forward differences update the slope)."""

    feeder: LinearFeeder
    direction: Direction
    sides: int
    h_min: float
    opf: DerOpf
    all_voltage_rows: bool = False  # every voltage row in the LPs (a check of the lazy rows)
    _tap: tuple[Evaluation, TapModel] | None = None
    _phase1: DerOpf | None = None

    @classmethod
    def build(
        cls,
        feeder: LinearFeeder,
        direction: Direction,
        *,
        sides: int,
        h_min: float,
        all_voltage_rows: bool = False,
    ) -> DirectionSweep:
        opf = build_der_opf(feeder, direction, sides=sides, h_min=h_min, all_voltage_rows=all_voltage_rows)
        return cls(feeder, direction, sides, h_min, opf, all_voltage_rows)

    @property
    def phase1(self) -> DerOpf:
        if self._phase1 is None:
            self._phase1 = build_der_opf(
                self.feeder,
                self.direction,
                sides=self.sides,
                h_min=self.h_min,
                elastic=True,
                all_voltage_rows=self.all_voltage_rows,
            )
        return self._phase1

    def tap_at(self, point: Evaluation, fresh: bool = False) -> TapModel:
        """The tap's Q curve at `point`: remembered if taken there, else by a forward difference with
        the last curvature, or `fresh`ly by central differences (also the first time)."""
        if self._tap is not None and self._tap[0] is point and not fresh:
            return self._tap[1]
        curvature = None if fresh or self._tap is None else self._tap[1].curvature
        tap = self.feeder.tap_model(point, curvature)
        self._tap = (point, tap)
        return tap

    def run(self, headrooms: Sequence[float], infeasible: Sequence[bool] = ()) -> list[SlpResult]:
        """Every headroom point, each starting where the last feasible one ended; those `infeasible`
        marks (the other direction found no point within the limits there, and both directions share
        the limits) are answered infeasible without a solve."""
        point = self.feeder.evaluate(self.feeder.start(headrooms[0]))
        out = []
        for k, h in enumerate(headrooms):
            if k < len(infeasible) and infeasible[k]:
                out.append(SlpResult(None, 0, False, 0.0))
                continue
            started = time.perf_counter()
            found = slp(self, point, h)
            ms = 1000 * (time.perf_counter() - started)
            if found is None:
                out.append(SlpResult(None, 0, False, ms))
            else:
                point = found[0]
                out.append(SlpResult(*found, ms))
        return out


@dataclass
class _Iterate:
    """Where the SLP stands: the linearization point, the tap's Q curve there, the trust regions, and
    the last point the power flow confirmed (so within the limits) with its tap curve."""

    point: Evaluation
    tap: TapModel
    radius: float | None = None
    tap_step: float | None = TAP_STEP
    confirmed: tuple[Evaluation, TapModel] | None = None
    best: Evaluation | None = None  # the best point the power flow found within the limits …
    best_at: int = 0  # … and the iteration it was found


def slp(sweep: DirectionSweep, point: Evaluation, headroom: float) -> tuple[Evaluation, int, bool] | None:
    """(answer, iterations, converged) from `point` at aggregated `headroom`; None when infeasible."""
    it = _Iterate(point, sweep.tap_at(point))
    for iteration in range(1, MAX_ITERATIONS + 1):
        set_trust_region(sweep.opf, it.point.x, it.radius, it.tap_step)
        lp = solve_at(sweep.opf, it.point, headroom, it.tap)
        if lp is None:
            if not _widen_or_restore(sweep, it, headroom):
                return None
            continue
        if np.array_equal(lp.x, it.point.x) and it.tap.r == it.point.x[-1]:
            return it.point, iteration, True  # the LP stays put, the tap's curve taken right here
        new = sweep.feeder.evaluate(lp.x)
        _remember(sweep.direction, it, new, iteration)
        answer = _advance(sweep, it, lp, new, iteration)
        if answer is not None:
            return answer, iteration, True
        if it.best is not None and iteration - it.best_at >= STALL_ITERATIONS:
            return it.best, iteration, False
    if it.best is not None:
        return it.best, MAX_ITERATIONS, False
    last = it.confirmed[0] if it.confirmed else it.point
    return (last, MAX_ITERATIONS, False) if violation(last.v) <= TOL_V_PU else None


def _remember(direction: Direction, it: _Iterate, new: Evaluation, iteration: int) -> None:
    """Keep `new` as the best feasible point if it is within the limits and better by STALL_KVAR."""
    if violation(new.v) > TOL_V_PU:
        return
    sign = 1.0 if direction == "min" else -1.0
    if it.best is None or sign * (it.best.q_kvar - new.q_kvar) > STALL_KVAR:
        it.best, it.best_at = new, iteration
    elif sign * (it.best.q_kvar - new.q_kvar) > 0:
        it.best = new  # better, but not by enough to count as progress


def _advance(
    sweep: DirectionSweep, it: _Iterate, lp: LpSolution, new: Evaluation, iteration: int
) -> Evaluation | None:
    """Move to the LP's answer `new` (evaluated); the answer if the SLP has converged."""
    agrees, tap_moved = _agrees(new, lp), abs(new.x[-1] - it.tap.r)
    if agrees and it.confirmed is not None and _worse(sweep.direction, new, it.confirmed[0]):
        # The tap's curve misled the LP (it bends, and has kinks): back, with a shorter tap step.
        back, back_tap = it.confirmed
        it.tap_step = abs(new.x[-1] - back.x[-1]) / 2
        if it.tap_step < TAP_CHECK / 2:
            return back
        it.point, it.tap = back, back_tap
        return None
    if agrees and tap_moved <= TAP_CHECK:
        return new
    if iteration >= TRUST_AFTER and not agrees:
        it.radius = 0.5 * (it.radius if it.radius is not None else _step(sweep.opf, lp.x - it.point.x))
    it.point, it.tap_step = new, TAP_STEP
    if agrees or tap_moved > TAP_REFRESH:
        it.tap = sweep.tap_at(new, fresh=tap_moved > TAP_REFRESH)
        it.radius = None if agrees else it.radius
    if agrees:
        it.confirmed = (new, it.tap)
    return None


def _widen_or_restore(sweep: DirectionSweep, it: _Iterate, headroom: float) -> bool:
    """The LP is infeasible: lift the trust regions, or else restore feasibility (phase 1); False
    when the point is infeasible."""
    if (it.radius, it.tap_step) != (None, None):
        it.radius = it.tap_step = None
        return True
    restored = restore_feasibility(sweep.feeder, sweep.phase1, it.point, headroom)
    if restored is None:
        return False
    it.point, it.tap, it.tap_step = restored, sweep.tap_at(restored, fresh=True), TAP_STEP
    return True


def _worse(direction: Direction, new: Evaluation, old: Evaluation) -> bool:
    """`new` is further from the objective than `old` (by more than the noise)."""
    sign = 1.0 if direction == "min" else -1.0
    return sign * (new.q_kvar - old.q_kvar) > WORSE_KVAR


def restore_feasibility(
    feeder: LinearFeeder, phase1: DerOpf, point: Evaluation, headroom: float
) -> Evaluation | None:
    """Phase 1: a feasible point to restart from, or None (infeasible, or not resolved)."""
    found, _ = _phase1(feeder, phase1, point, headroom)
    return found


def infeasible_throughout(sweep: DirectionSweep, headrooms: Sequence[float]) -> bool:
    """Phase 1 with the aggregated headroom free over the range of `headrooms`: True when even the
    best headroom leaves a violation the power flow confirms (then every point is infeasible, and a
    feeder far outside its limits is not proven so point by point: EPRI ckt7 at peak, 21 s)."""
    span = (min(headrooms), max(headrooms))
    point = sweep.feeder.evaluate(sweep.feeder.start(span[0]))
    if violation(point.v) <= TOL_V_PU / 2:
        return False  # the usual case, answered without building phase 1
    return _phase1(sweep.feeder, sweep.phase1, point, span)[1]


def _phase1(
    feeder: LinearFeeder, phase1: DerOpf, point: Evaluation, headroom: float | tuple[float, float]
) -> tuple[Evaluation | None, bool]:
    """Minimize the largest voltage violation until the power flow has none (→ that point, False) or
    the minimum, confirmed by the power flow, is positive (→ None, True: proven infeasible); (None,
    False) when the LP fails or the iterations run out."""
    for _ in range(MAX_ITERATIONS):
        lp = solve_at(phase1, point, headroom, TapModel(float(point.x[-1]), 0.0, 0.0))
        if lp is None:
            return None, False
        new = feeder.evaluate(lp.x)
        if violation(new.v) <= TOL_V_PU / 2:
            return new, False
        if lp.sigma > TOL_V_PU and np.max(np.abs(new.v - lp.v), initial=0.0) <= TOL_V_PU:
            return None, True
        point = new
    return None, False


def violation(v: FArray) -> float:
    """Largest ANSI violation (pu; 0 if none)."""
    return float(max(np.max(V_MIN_PU - v, initial=0.0), np.max(v - V_MAX_PU, initial=0.0)))


def _agrees(new: Evaluation, lp: LpSolution) -> bool:
    """The power flow at the LP's answer confirms the LP's prediction."""
    dv = np.max(np.abs(new.v - lp.v), initial=0.0)
    return bool(dv <= TOL_V_PU and abs(new.q_kvar - lp.q * S_BASE_KVA) <= TOL_Q_KVAR)


def _step(opf: DerOpf, dx: FArray) -> float:
    """Largest change of h, u (own units) or r (share of its range)."""
    scale = np.ones(dx.size)
    scale[-1] = max(opf.upper[-1] - opf.lower[-1], 1e-9)
    return float(np.max(np.abs(dx) / scale))
