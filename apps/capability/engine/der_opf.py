"""The DER-OPF of seed 004 §IV-C as a HiGHS linear program around one linearization point.

Columns `x = [h_1..h_n, u_1..u_n, r]` (see `linear_feeder.py`): per-DER headroom, per-DER var in pu
of the inverter rating, the continuous feeder-head tap; then, in the `min` problem, one weight λ_m
per tap knot; in the phase-1 problem, σ. The DER and voltage rows depend only on the fixed Jacobian
and the inverter data, so one LP per direction lives through a whole curve: a solve changes row
bounds (the linearization's constant terms, the headroom), column bounds (trust regions) and tap
costs, and HiGHS's simplex restarts from the previous basis (presolve off).

Of the voltage rows, few ever bind (~2 % on a 10k node-phase feeder), and each is dense over the DER
columns: they enter lazily (constraint generation). A solve first adds the rows of the node-phases
within `BAND_START` of a limit at the linearization point, then, while the dense prediction J x at the
LP's answer breaks a limit whose row is missing, adds those rows (and the ones within `BAND_ADD` of a
limit) and re-solves from the last basis. The LP without a row is a relaxation, so an answer that
meets every limit is the full LP's answer, and an infeasible relaxation means an infeasible LP. Rows
stay for the later solves.

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
from apps.der_registry.engine.polygon import edge_normals
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

Direction = Literal["min", "max"]
TAP_KNOTS = 21  # knots of φ(r) over the tap range: error ≤ c·(range/20)²/8, 0.1 kvar on the IEEE feeders
INF = highspy.kHighsInf
BAND_START = 0.002  # pu: rows from the start for node-phases this close to a limit at the linearization
BAND_ADD = 0.001  # pu: with a missing row that the LP's answer breaks, those this close to a limit
VIOLATION_TOL = 1e-9  # pu: a missing row broken by more is added
MAX_ADD = 100  # rows added at once, those closest to (or furthest beyond) a limit
IArray = NDArray[np.int32]


@dataclass
class DerOpf:
    """One direction's LP, kept for warm starts."""

    highs: highspy.Highs
    direction: Direction
    jacobian: Jacobian
    columns: int  # of x
    voltage_nodes: IArray  # the constrained node-phases (rows of J) whose limits are in the LP
    voltage_rows: IArray  # (nodes, 1): their ranged rows; elastic (nodes, 2): lower-limit, upper-limit
    balance_row: int
    tap_weights: IArray  # columns λ_m of the knots (min only)
    knots: FArray
    total_avail: float
    sigma: int | None  # σ's column (elastic only)
    band_start: float  # INF: every voltage row from the first solve on
    lower: FArray  # bounds of x
    upper: FArray

    @property
    def elastic(self) -> bool:
        return self.sigma is not None


@dataclass(frozen=True)
class LpSolution:
    """The LP's setting `x`, its predicted voltages and substation Q (pu), and σ (elastic only)."""

    x: FArray
    v: FArray
    q: float
    sigma: float


def build_der_opf(
    feeder: LinearFeeder,
    direction: Direction,
    *,
    sides: int,
    h_min: float,
    elastic: bool = False,
    all_voltage_rows: bool = False,
) -> DerOpf:
    """Variables, then constraints, then the objective of seed 004's DER-OPF (§IV-C); the voltage rows
    come with the solves (all of them at the first with `all_voltage_rows`)."""
    highs = _quiet_highs()
    add_der_variables(highs, feeder, h_min)
    add_tap_variable(highs, feeder)
    balance = add_headroom_balance(highs, feeder)
    add_inverter_polygons(highs, feeder, sides, h_min)
    knots = np.linspace(*feeder.tap_range, TAP_KNOTS)
    lam = add_tap_interpolation(highs, knots) if direction == "min" and not elastic else _none()
    sigma = add_violation_variable(highs) if elastic else None
    set_objective(highs, feeder.jacobian, direction, sigma)
    n = 2 * feeder.n + 1
    lp = highs.getLp()
    lower, upper = np.array(lp.col_lower_[:n]), np.array(lp.col_upper_[:n])
    total = float(feeder.s_avail.sum())
    band = INF if all_voltage_rows else BAND_START
    rows = np.zeros((0, 2 if elastic else 1), dtype=np.int32)
    return DerOpf(
        highs,
        direction,
        feeder.jacobian,
        n,
        _none(),
        rows,
        balance,
        lam,
        knots,
        total,
        sigma,
        band,
        lower,
        upper,
    )


def add_der_variables(highs: highspy.Highs, feeder: LinearFeeder, h_min: float) -> None:
    # p_j^hr ∈ [p_min^hr, 1] (seed 004 §IV-C); |q_j| ≤ S̄_j, tightened by the polygon and by the
    # reactive ratings (IEEE 1547-2018 §5.2)
    n = feeder.n
    highs.addVars(n, np.full(n, h_min), np.ones(n))
    highs.addVars(n, feeder.u_range[:, 0].copy(), feeder.u_range[:, 1].copy())


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


def add_voltage_limits(highs: highspy.Highs, dv: FArray, sigma: int | None) -> IArray:
    """0.95 ≤ |V_i| ≤ 1.05 on the node-phases of `dv`'s rows (seed 004 §IV-C), |V| ≈ c + J x with c
    set per solve; their row numbers, (nodes, 1). Ranged rows; with σ, J x + σ ≥ lo and J x − σ ≤ hi,
    (nodes, 2)."""
    rows, cols = dv.shape
    first = int(highs.getNumRow())
    index = np.broadcast_to(np.arange(cols), (rows, cols))
    free = (np.full(rows, -INF), np.full(rows, INF))
    if sigma is None:
        _add_rows(highs, *free, index, dv)
        return np.arange(first, first + rows, dtype=np.int32)[:, None]
    index = np.hstack([index, np.full((rows, 1), sigma)])
    for sign in (1.0, -1.0):
        _add_rows(highs, *free, index, np.hstack([dv, np.full((rows, 1), sign)]))
    return np.arange(first, first + 2 * rows, dtype=np.int32).reshape(2, rows).T


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


def solve_at(
    opf: DerOpf, point: Evaluation, headroom: float | tuple[float, float], tap: TapModel
) -> LpSolution | None:
    """The LP linearized at `point` (|V| ≈ v(point) + J (x − x_point), Q ≈ q(point) + ∂Q/∂x_DER ·
    Δx_DER + φ(r)) for aggregated `headroom` (or anywhere in a (low, high) range); None if it is
    infeasible."""
    jac, highs = opf.jacobian, opf.highs
    const = point.v - jac.dv @ point.x
    add_voltage_rows(opf, _closest(opf, point.v, opf.band_start, opf.band_start == INF), const)
    _set_voltage_bounds(opf, const)
    low, high = headroom if isinstance(headroom, tuple) else (headroom, headroom)
    row = np.array([opf.balance_row], dtype=np.int32)
    _change_rows_bounds(highs, row, np.array([low * opf.total_avail]), np.array([high * opf.total_avail]))
    _set_tap_terms(opf, tap)
    while _run(highs):
        values = np.array(highs.getSolution().col_value)
        x = values[: opf.columns]
        sigma = float(values[opf.sigma]) if opf.sigma is not None else 0.0
        v = point.v + jac.dv @ (x - point.x)
        if not add_voltage_rows(opf, _broken(opf, v, sigma), const):
            tap_share = tap.value(float(x[-1])) - tap.value(float(point.x[-1]))
            q = point.q_kvar / S_BASE_KVA + float(jac.dq[:-1] @ (x - point.x)[:-1]) + tap_share
            return LpSolution(x, v, q, sigma)
    return None


def add_voltage_rows(opf: DerOpf, wanted: NDArray[np.bool_], const: FArray) -> bool:
    """Add the rows of the node-phases `wanted` (a mask over J's rows) that the LP lacks, their bounds
    from the constant terms `const`; False when none was missing."""
    wanted = wanted.copy()
    wanted[opf.voltage_nodes] = False
    nodes = np.flatnonzero(wanted).astype(np.int32)
    if nodes.size == 0:
        return False
    rows = add_voltage_limits(opf.highs, opf.jacobian.dv[nodes], opf.sigma)
    _set_voltage_bounds(opf, const, nodes, rows)
    opf.voltage_nodes = np.concatenate([opf.voltage_nodes, nodes])
    opf.voltage_rows = np.concatenate([opf.voltage_rows, rows])
    return True


def _broken(opf: DerOpf, v: FArray, sigma: float) -> NDArray[np.bool_]:
    """Where the LP's answer `v` breaks a limit (by more than σ) whose row is missing, all node-phases
    within `BAND_ADD` of a limit; else nothing."""
    out = np.maximum(V_MIN_PU - v, v - V_MAX_PU) > sigma + VIOLATION_TOL
    out[opf.voltage_nodes] = False
    return _closest(opf, v, BAND_ADD + sigma) if out.any() else out


def _closest(opf: DerOpf, v: FArray, band: float, every: bool = False) -> NDArray[np.bool_]:
    """The node-phases without rows within `band` of a limit or beyond it, the `MAX_ADD` closest
    (furthest beyond) unless `every`."""
    margin = np.minimum(v - V_MIN_PU, V_MAX_PU - v)
    margin[opf.voltage_nodes] = INF
    out = margin <= band
    if not every and np.count_nonzero(out) > MAX_ADD:
        out[:] = False
        out[np.argpartition(margin, MAX_ADD)[:MAX_ADD]] = True
    return out


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


def _set_voltage_bounds(
    opf: DerOpf, const: FArray, nodes: IArray | None = None, rows: IArray | None = None
) -> None:
    """The bounds of the voltage rows (default: all in the LP) from the constant terms `const`."""
    nodes = opf.voltage_nodes if nodes is None else nodes
    rows = opf.voltage_rows if rows is None else rows
    lo, hi = V_MIN_PU - const[nodes], V_MAX_PU - const[nodes]
    if opf.elastic:
        _change_rows_bounds(opf.highs, rows[:, 0].copy(), lo, np.full(lo.size, INF))
        _change_rows_bounds(opf.highs, rows[:, 1].copy(), np.full(hi.size, -INF), hi)
    else:
        _change_rows_bounds(opf.highs, rows[:, 0].copy(), lo, hi)


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
