"""A plain peer of the capability engine for `capability.py`: the same DER-OPF in cvxpy + Clarabel.

Same decision variables as `apps.capability.engine.der_opf` (x = [h_1..h_n, u_1..u_n, r]: per-DER
headroom h_j ∈ [h_min, 1], per-DER var u_j = q_j / S̄_j, the continuous feeder-head tap r), the same
aggregated-headroom equality Σ S_j h_j = h Σ S_j and the same ANSI limits 0.95–1.05 pu. Differences,
on purpose:

- the inverter constraint is the exact cone q_j² + p_j² ≤ S̄_j² (p_j = S_j (1 − h_j)), a second-order
  cone per DER, instead of the engine's inscribed polygon (`cone=False` gives that polygon instead, to
  separate the two sources of difference);
- one linearization, no SLP: |V| ≈ v(x0) + J (x − x0) and Q ≈ Q(x0) + ∂Q/∂x (x − x0), with J and ∂Q/∂x
  the engine's own (`LinearFeeder.jacobian`: LinDist3Flow sensitivities at the calibration point x0,
  unity power factor, zero headroom, the factored tap r0) and the tap's Q slope from
  `LinearFeeder.tap_model` at x0, linear in both directions.

The voltages are variables with the ANSI box as their bounds, tied to x by one equality row each
(two-sided inequality rows on J x, the first form tried, have twice the dense nonzeros and took about
twice as long in Clarabel). The headroom is a cvxpy Parameter: each direction is canonicalized once
and re-solved per point; Clarabel's default settings, no warm start (it has none).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from apps.capability.engine.der_opf import Direction
from apps.capability.engine.linear_feeder import S_BASE_KVA, FArray, LinearFeeder
from apps.capability.engine.slp import violation
from apps.der_registry.engine.polygon import edge_normals
from apps.standards.ansi import V_MAX_PU, V_MIN_PU


@dataclass(frozen=True)
class Linearization:
    """The one point the peer linearizes at, and the engine's first-order response there (pu)."""

    x0: FArray
    v0: FArray
    q0: float
    dv: FArray
    dq: FArray  # DER entries from the Jacobian, the tap's entry the slope of `tap_model` at x0


@dataclass(frozen=True)
class PeerPoint:
    """One direction at one headroom: the peer's Q (kvar, None if infeasible), its setting, and the
    refreshed LinDist3Flow power flow's Q and largest ANSI violation (pu) at that setting."""

    q_kvar: float | None
    x: FArray | None
    q_refreshed_kvar: float | None
    violation_pu: float | None


@dataclass(frozen=True)
class PeerCurve:
    headrooms: tuple[float, ...]
    low: tuple[PeerPoint, ...]
    high: tuple[PeerPoint, ...]
    build_s: float  # cvxpy problem construction (both directions)
    first_solve_s: float  # canonicalization + first Clarabel solve (both directions)
    solve_s: float  # every point, both directions, the first included
    solver_s: float  # Clarabel's own time, summed


def linearize(feeder: LinearFeeder) -> Linearization:
    """The engine's Jacobian with the tap's Q slope at the calibration point x0 (r = r0)."""
    x0 = feeder.start(0.0)
    x0[-1] = feeder.r0
    point = feeder.evaluate(x0)
    dq = feeder.jacobian.dq.copy()
    dq[-1] = feeder.tap_model(point).slope
    return Linearization(x0, point.v, point.q_kvar / S_BASE_KVA, feeder.jacobian.dv, dq)


class PeerProblem:
    """One direction's cvxpy problem; `solve(h)` re-solves it at aggregated headroom h."""

    def __init__(
        self, feeder: LinearFeeder, lin: Linearization, direction: Direction, *, cone: bool, h_min: float
    ) -> None:
        n = feeder.n
        self.h = cp.Variable(n, bounds=[np.full(n, h_min), np.ones(n)])
        self.u = cp.Variable(n, bounds=[-np.ones(n), np.ones(n)])
        self.r = cp.Variable(bounds=[feeder.tap_range[0], feeder.tap_range[1]])
        self.headroom = cp.Parameter(nonneg=True)
        self.v = cp.Variable(
            lin.v0.size, bounds=[np.full(lin.v0.size, V_MIN_PU), np.full(lin.v0.size, V_MAX_PU)]
        )
        dx = cp.hstack([self.h, self.u, cp.reshape(self.r, (1,), order="C")]) - lin.x0
        self.q = lin.q0 + lin.dq @ dx
        ratio = feeder.s_avail / feeder.s_rated  # p_j / S̄_j = ratio_j (1 − h_j)
        total = float(feeder.s_avail.sum())
        constraints = [
            feeder.s_avail @ self.h == self.headroom * total,
            self.v == lin.v0 + lin.dv @ dx,  # the voltages as variables: half the nonzeros of two-sided rows
            *inverter_limits(self.h, self.u, ratio, cone=cone),
        ]
        objective = cp.Minimize(self.q) if direction == "min" else cp.Maximize(self.q)
        self.problem = cp.Problem(objective, constraints)
        self.solver_s = 0.0

    def solve(self, headroom: float) -> tuple[float, FArray] | None:
        """(substation Q in kvar, setting x) at aggregated `headroom`; None when infeasible."""
        self.headroom.value = headroom
        self.problem.solve(solver=cp.CLARABEL)
        self.solver_s += float(self.problem.solver_stats.solve_time or 0.0)
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return None
        values = [np.atleast_1d(np.asarray(var.value, dtype=float)) for var in (self.h, self.u, self.r)]
        return float(np.asarray(self.q.value)) * S_BASE_KVA, np.concatenate(values)


def inverter_limits(
    h: cp.Variable, u: cp.Variable, ratio: FArray, *, cone: bool, sides: int = 16
) -> list[cp.Constraint]:
    """In pu of S̄_j: u_j² + (ratio_j (1 − h_j))² ≤ 1 as a cone, or the engine's inscribed `sides`-gon
    (vertex at (S̄_j, 0); the edges that touch p > 0, as in `der_opf.add_inverter_polygons`)."""
    p = cp.multiply(ratio, 1 - h)
    if cone:
        return [cp.SOC(np.ones(ratio.size), cp.vstack([u, p]), axis=0)]
    return [
        math.cos(theta) * p + math.sin(theta) * u <= math.cos(math.pi / sides)
        for theta, _ in edge_normals(sides)
    ]


def peer_curve(
    feeder: LinearFeeder, headrooms: Sequence[float], *, cone: bool = True, h_min: float = 0.0
) -> PeerCurve:
    """Both directions of the peer's curve at every headroom, each answer replayed in the refreshed
    power flow (not timed)."""
    lin = linearize(feeder)
    started = time.perf_counter()
    problems = [PeerProblem(feeder, lin, d, cone=cone, h_min=h_min) for d in ("min", "max")]
    build_s = time.perf_counter() - started
    found: list[list[tuple[float, FArray] | None]] = [[], []]
    first_s = 0.0
    started = time.perf_counter()
    for k, h in enumerate(headrooms):
        for side, problem in enumerate(problems):
            found[side].append(problem.solve(h))
        if k == 0:
            first_s = time.perf_counter() - started
    solve_s = time.perf_counter() - started
    low, high = (tuple(replay(feeder, f) for f in side) for side in found)
    solver_s = sum(p.solver_s for p in problems)
    return PeerCurve(tuple(headrooms), low, high, build_s, first_s, solve_s, solver_s)


def replay(feeder: LinearFeeder, found: tuple[float, FArray] | None) -> PeerPoint:
    """The peer's answer with what the refreshed power flow says at its setting."""
    if found is None:
        return PeerPoint(None, None, None, None)
    q, x = found
    point = feeder.evaluate(x)
    return PeerPoint(q, x, point.q_kvar, violation(point.v))
