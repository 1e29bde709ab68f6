"""The DER-OPF of seed 004 §IV-C as a HiGHS linear program around one linearization point.

Columns `x = [h_1..h_n, u_1..u_n, r]` (see `linear_feeder.py`): per-DER headroom, per-DER var in pu
of the inverter rating, the continuous feeder-head tap; then, in the `min` problem, one weight λ_m
per tap knot; in the phase-1 problem, σ. The DER and voltage rows depend only on the fixed Jacobian
and the inverter data, so one LP per direction lives through a whole curve: a solve changes row
bounds (the linearization's constant terms, the headroom), column bounds (trust regions) and tap
costs, and HiGHS's simplex restarts from the previous basis (presolve off).

The tap's share of substation Q is the `TapModel` φ(r) = g·Δr + ½·c·Δr² (c ≥ 0) taken at the
linearization point. Minimizing, a linear φ would send r from bound to bound between SLP iterations:
r = Σ λ_m r_m with cost Σ λ_m φ(r_m) keeps the curvature (φ convex, so the LP picks neighbouring
knots: φ piecewise linear). Maximizing, the slope is the tap's cost; `slp.py` limits each tap move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
from numpy.typing import NDArray

from apps.capability.engine.linear_feeder import (
    S_BASE_KVA,
    Evaluation,
    FArray,
    Jacobian,
    LinearFeeder,
    TapModel,
)

Direction = Literal["min", "max"]
V_MIN, V_MAX = 0.95, 1.05  # ANSI C84.1 range A (seed 004 §IV-C)
TAP_KNOTS = 21  # knots of φ(r) over the tap range: error ≤ c·(range/20)²/8, 0.1 kvar on the IEEE feeders
INF = highspy.kHighsInf
IArray = NDArray[np.int32]


@dataclass
class DerOpf:
    """One direction's LP, kept for warm starts."""

    highs: highspy.Highs
    direction: Direction
    jacobian: Jacobian
    columns: int  # of x
    voltage_rows: IArray  # ranged; elastic: the lower-limit rows then the upper-limit rows
    balance_row: int
    tap_weights: IArray  # columns λ_m of the knots (min only)
    knots: FArray
    total_avail: float
    elastic: bool
    lower: FArray  # bounds of x
    upper: FArray


@dataclass(frozen=True)
class LpSolution:
    """The LP's setting `x`, its predicted voltages and substation Q (pu), and σ (elastic only)."""

    x: FArray
    v: FArray
    q: float
    sigma: float


def build_der_opf(
    feeder: LinearFeeder, direction: Direction, *, sides: int, h_min: float, elastic: bool = False
) -> DerOpf:
    """Variables, then constraints, then the objective of seed 004's DER-OPF (§IV-C)."""
    highs = _quiet_highs()
    add_der_variables(highs, feeder, h_min)
    add_tap_variable(highs, feeder)
    balance = add_headroom_balance(highs, feeder)
    add_inverter_polygons(highs, feeder, sides, h_min)
    knots = np.linspace(*feeder.tap_range, TAP_KNOTS)
    lam = add_tap_interpolation(highs, knots) if direction == "min" and not elastic else _none()
    sigma = add_violation_variable(highs) if elastic else None
    volts = add_voltage_limits(highs, feeder.jacobian, sigma)
    set_objective(highs, feeder.jacobian, direction, sigma)
    n = 2 * feeder.n + 1
    lp = highs.getLp()
    lower, upper = np.array(lp.col_lower_[:n]), np.array(lp.col_upper_[:n])
    total = float(feeder.s_avail.sum())
    return DerOpf(
        highs, direction, feeder.jacobian, n, volts, balance, lam, knots, total, elastic, lower, upper
    )


def add_der_variables(highs: highspy.Highs, feeder: LinearFeeder, h_min: float) -> None:
    # p_j^hr ∈ [p_min^hr, 1] (seed 004 §IV-C); |q_j| ≤ S̄_j, tightened by the polygon
    n = feeder.n
    highs.addVars(n, np.full(n, h_min), np.ones(n))
    highs.addVars(n, -np.ones(n), np.ones(n))


def add_tap_variable(highs: highspy.Highs, feeder: LinearFeeder) -> None:
    # v_tm·r_min ≤ v0 ≤ v_tm·r_max with v0 = r·v_tm (seed 004 §IV-C, OLTC; r continuous)
    r_min, r_max = feeder.tap_range
    highs.addVars(1, np.array([r_min]), np.array([r_max]))


def add_headroom_balance(highs: highspy.Highs, feeder: LinearFeeder) -> int:
    """Σ_j S_j h_j = h · Σ_j S_j (seed 004 §IV-C); the right-hand side is set per solve."""
    n = feeder.n
    _add_rows(highs, np.zeros(1), np.zeros(1), np.arange(n)[None, :], feeder.s_avail[None, :])
    return int(highs.getNumRow()) - 1


def add_inverter_polygons(highs: highspy.Highs, feeder: LinearFeeder, sides: int, h_min: float) -> None:
    """q_j² + p_j² ≤ S̄_j² (seed 004 §IV-C) as the regular `sides`-gon inscribed in the disk, a vertex at
    (S̄_j, 0). In pu of S̄_j, with p_j = S_j (1 − h_j), q_j = S̄_j u_j, edge normal θ:
    −cos θ (S_j/S̄_j) h_j + sin θ u_j ≤ cos(π/n) − cos θ S_j/S̄_j. Only edges some reachable p reaches
    (0 ≤ p_j ≤ S_j (1 − h_min)) are rows."""
    n, ratio = feeder.n, feeder.s_avail / feeder.s_rated
    p_max = ratio * (1.0 - h_min)
    for theta, p_edge in edge_normals(sides):
        c, s = math.cos(theta), math.sin(theta)
        j = np.flatnonzero(p_edge < p_max - 1e-12)
        cols = np.stack([j, n + j], axis=1)  # (h_j, u_j)
        coef = np.stack([-c * ratio[j], np.full(j.size, s)], axis=1)
        _add_rows(highs, np.full(j.size, -INF), math.cos(math.pi / sides) - c * ratio[j], cols, coef)


def edge_normals(sides: int) -> list[tuple[float, float]]:
    """(outward normal angle, smallest p in pu of S̄) of the inscribed `sides`-gon's edges (vertices at
    2πk/sides) that touch the half-plane p > 0; with p ≥ 0 the others are implied."""
    out = []
    for k in range(sides):
        p_ends = math.cos(2 * math.pi * k / sides), math.cos(2 * math.pi * (k + 1) / sides)
        if max(p_ends) > 1e-12:
            out.append(((2 * k + 1) * math.pi / sides, max(min(p_ends), 0.0)))
    return out


def polygon_radius_loss(sides: int) -> float:
    """Largest fraction of the disk radius the inscribed polygon loses: 1 − cos(π/sides)."""
    return 1.0 - math.cos(math.pi / sides)


def add_tap_interpolation(highs: highspy.Highs, knots: FArray) -> IArray:
    """r = Σ λ_m r_m, Σ λ_m = 1, λ ≥ 0, Q's tap share Σ λ_m φ(r_m) in the objective (costs set per
    solve): φ convex, so minimizing picks two neighbouring knots, the piecewise-linear φ."""
    tap, k = int(highs.getNumCol()) - 1, knots.size
    first = int(highs.getNumCol())
    highs.addVars(k, np.zeros(k), np.ones(k))
    lam = np.arange(first, first + k)
    _add_rows(highs, np.zeros(1), np.zeros(1), np.append(lam, tap)[None, :], np.append(knots, -1.0)[None, :])
    _add_rows(highs, np.ones(1), np.ones(1), lam[None, :], np.ones((1, k)))
    return lam.astype(np.int32)


def add_violation_variable(highs: highspy.Highs) -> int:
    """σ ≥ 0, the largest voltage-limit violation (phase 1 only)."""
    highs.addVars(1, np.zeros(1), np.array([INF]))
    return int(highs.getNumCol()) - 1


def add_voltage_limits(highs: highspy.Highs, jac: Jacobian, sigma: int | None) -> IArray:
    """0.95 ≤ |V_i| ≤ 1.05 on every constrained node-phase (seed 004 §IV-C), |V| ≈ c + J x with c
    set per solve. Ranged rows; with σ, J x + σ ≥ lo and J x − σ ≤ hi."""
    rows, cols = jac.dv.shape
    first = int(highs.getNumRow())
    index = np.broadcast_to(np.arange(cols), (rows, cols))
    free = (np.full(rows, -INF), np.full(rows, INF))
    if sigma is None:
        _add_rows(highs, *free, index, jac.dv)
        return np.arange(first, first + rows, dtype=np.int32)
    index = np.hstack([index, np.full((rows, 1), sigma)])
    for sign in (1.0, -1.0):
        _add_rows(highs, *free, index, np.hstack([jac.dv, np.full((rows, 1), sign)]))
    return np.arange(first, first + 2 * rows, dtype=np.int32)


def set_objective(highs: highspy.Highs, jac: Jacobian, direction: Direction, sigma: int | None) -> None:
    """min / max net substation Q ≈ const + ∂Q/∂x · x (seed 004 §IV-C, with eq. 25's losses kept as
    LinDist3Flow's marginal losses); the tap's share goes in per solve (`_set_tap_terms`). Phase 1:
    min σ."""
    cost = np.zeros(int(highs.getNumCol()))
    if sigma is not None:
        cost[sigma] = 1.0
    elif direction == "min":
        cost[: jac.dq.size - 1] = jac.dq[:-1]
    else:
        cost[: jac.dq.size - 1] = -jac.dq[:-1]
    highs.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)


def solve_at(opf: DerOpf, point: Evaluation, headroom: float, tap: TapModel) -> LpSolution | None:
    """The LP linearized at `point` (|V| ≈ v(point) + J (x − x_point), Q ≈ q(point) + ∂Q/∂x_DER ·
    Δx_DER + φ(r)) for aggregated `headroom`; None if it is infeasible."""
    jac, highs = opf.jacobian, opf.highs
    _set_voltage_bounds(opf, point.v - jac.dv @ point.x)
    rhs = np.array([headroom * opf.total_avail])
    _change_rows_bounds(highs, np.array([opf.balance_row], dtype=np.int32), rhs, rhs)
    _set_tap_terms(opf, tap)
    if not _run(highs):
        return None
    values = np.array(highs.getSolution().col_value)
    x = values[: opf.columns]
    dx = x - point.x
    tap_share = tap.value(float(x[-1])) - tap.value(float(point.x[-1]))
    q = point.q_kvar / S_BASE_KVA + float(jac.dq[:-1] @ dx[:-1]) + tap_share
    sigma = float(values[-1]) if opf.elastic else 0.0
    return LpSolution(x, point.v + jac.dv @ dx, q, sigma)


def set_trust_region(opf: DerOpf, center: FArray, radius: float | None, tap_step: float | None) -> None:
    """Bound x to `center` ± `radius` (h, u in their own units, r in its range) and the tap to
    ± `tap_step` more narrowly; None lifts either."""
    lower, upper = opf.lower.copy(), opf.upper.copy()
    if radius is not None:
        scale = np.ones(opf.columns)
        scale[-1] = upper[-1] - lower[-1]
        lower, upper = np.maximum(lower, center - radius * scale), np.minimum(upper, center + radius * scale)
    if tap_step is not None:
        lower[-1], upper[-1] = max(lower[-1], center[-1] - tap_step), min(upper[-1], center[-1] + tap_step)
    lower, upper = np.minimum(lower, opf.upper), np.maximum(upper, opf.lower)
    opf.highs.changeColsBounds(opf.columns, np.arange(opf.columns, dtype=np.int32), lower, upper)


def _set_voltage_bounds(opf: DerOpf, const: FArray) -> None:
    lo, hi = V_MIN - const, V_MAX - const
    if opf.elastic:
        lo, hi = np.concatenate([lo, np.full(lo.size, -INF)]), np.concatenate([np.full(hi.size, INF), hi])
    _change_rows_bounds(opf.highs, opf.voltage_rows, lo, hi)


def _set_tap_terms(opf: DerOpf, tap: TapModel) -> None:
    """Min: φ at the knots as the costs of their weights; max: φ's slope as the tap's cost."""
    if opf.elastic:
        return
    if opf.direction == "max":
        r = np.array([opf.columns - 1], dtype=np.int32)
        opf.highs.changeColsCost(1, r, np.array([-tap.slope]))
        return
    values = np.array([tap.value(float(k)) for k in opf.knots])
    opf.highs.changeColsCost(values.size, opf.tap_weights, values)


def _run(highs: highspy.Highs) -> bool:
    """Solve from the last basis; on anything but optimal or infeasible, once more from scratch."""
    highs.run()
    status = highs.getModelStatus()
    if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible):
        highs.clearSolver()
        highs.run()
        status = highs.getModelStatus()
    return bool(status == highspy.HighsModelStatus.kOptimal)


def _none() -> IArray:
    return np.zeros(0, dtype=np.int32)


def _change_rows_bounds(highs: highspy.Highs, rows: IArray, lower: FArray, upper: FArray) -> None:
    highs.changeRowsBounds(rows.size, rows, lower, upper)  # type: ignore[attr-defined]  # not in the stubs


def _quiet_highs() -> highspy.Highs:
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("presolve", "off")  # warm starts from the previous basis
    highs.setOptionValue("simplex_scale_strategy", 0)  # rows are in pu already; ~25 % faster here
    return highs


def _add_rows(
    highs: highspy.Highs, lower: FArray, upper: FArray, index: NDArray[np.int_], coef: FArray
) -> None:
    """Rows with the same number of entries each: `index` and `coef` are (rows, entries)."""
    rows, per_row = index.shape
    highs.addRows(
        rows,
        np.asarray(lower, float),
        np.asarray(upper, float),
        rows * per_row,
        np.arange(rows, dtype=np.int32) * per_row,
        np.ascontiguousarray(index, dtype=np.int32).ravel(),
        np.ascontiguousarray(coef, dtype=float).ravel(),
    )
