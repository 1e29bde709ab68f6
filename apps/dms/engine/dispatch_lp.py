"""The two dispatch stages of seed 000 §3.1.2 as HiGHS linear programs over the voltage–load
sensitivity model (VLSM) of LinDist3Flow, linearized at one operating point.

Columns `x = [p_1..p_n, q_1..q_n]` in pu of `S_BASE_KVA`: per-DER active power injected (PV output;
a controllable load's reduction) and reactive power injected. Voltages and substation Q are predicted
as v ≈ v_k + J (x − x_k), Q ≈ Q_k + ∂Q/∂x (x − x_k) around the point k they were taken at; `dispatch.py`
moves the Q target by the nonlinear residual, so the answer tracks the true Q including losses.

Every request is a soft equality with a slack pair priced far above anything else: when the request
exceeds what the DERs can do the LP meets as much of it as possible and the slack is the shortfall.
Model building goes straight to highspy (docs/adr/0007: Pyomo's model building is too slow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray

from apps.der_registry.engine.polygon import edge_normals
from apps.dms.engine.dispatch_types import DerState
from apps.dms.engine.dispatch_vlsm import DerSensitivities
from apps.dms.engine.lindist3flow import LinDist3FlowModel
from apps.dms.engine.lindist_elements import S_BASE_KVA
from apps.dms.engine.network import OperatingState

FArray = NDArray[np.float64]
IArray = NDArray[np.int32]
INF = highspy.kHighsInf
SIDES = 16  # inverter disk as an inscribed 16-gon: ≤ 1.9 % of the radius given up
W_REQUEST = 1e4  # per pu of unmet Q: the request comes first
W_RESOURCE = 1e5  # per pu of unmet PV curtailment or DR: explicit orders, kept before the Q target
W_VIOLATION = 1e6  # per pu of the largest voltage violation (stage 2)
W_EACH_VIOLATION = 1e6  # per pu of each node-phase's violation (stage 2): limits before any request
W_DEVIATION = 10.0  # per pu of |V − 1| summed over the monitored node-phases (stage 1)
W_CURTAIL = 1.0  # per pu of PV held back: no curtailment beyond the request without a reason
# When the warm-started dual simplex fails, cold starts: as is, with the objective scaled down (HiGHS's
# advice when its ratio test meets the 1e6 violation prices against sensitivities of 1e-7 on ckt7),
# then the interior-point solver.
RETRIES: tuple[tuple[str, int | str], ...] = (
    ("user_objective_scale", 0),
    ("user_objective_scale", -3),
    ("solver", "ipm"),
)
MAX_MONITORED = 300  # node-phases in the deviation term; larger feeders use an even sample


@dataclass(frozen=True)
class Vlsm:
    """Constrained node-phases `rows`; their |V| (pu) and substation P, Q (pu) at setting `x`; the
    sensitivities of |V| (`sens.dv`) and of substation Q (`dq`) to x."""

    rows: tuple[str, ...]
    x: FArray
    v: FArray
    p_sub: float
    q_sub: float
    sens: DerSensitivities

    @property
    def dq(self) -> FArray:
        return self.sens.dq

    def dv(self, idx: IArray) -> FArray:
        return self.sens.dv(idx)

    def at(self, x: FArray, v: FArray, p_sub: float, q_sub: float) -> Vlsm:
        """The same sensitivities around a new (nonlinear) point."""
        return Vlsm(self.rows, x.copy(), v, p_sub, q_sub, self.sens)


def build_vlsm(
    model: LinDist3FlowModel, state: OperatingState, ders: Sequence[DerState], rows: Sequence[str], x: FArray
) -> Vlsm:
    """LinDist3Flow's voltage–load sensitivities (seed 004 eq. 21; seed 002's VLSM) for the DER
    columns, at `state` whose DER injections are `x`."""
    sens = DerSensitivities(model, state, ders, rows)
    result = model.solve(state, iterations=3)
    v = np.array([result.voltages_pu[k] for k in rows])
    p_sub, q_sub = result.substation_p_kw / S_BASE_KVA, result.substation_q_kvar / S_BASE_KVA
    return Vlsm(tuple(rows), x.copy(), v, p_sub, q_sub, sens)


@dataclass
class DispatchLp:
    """One stage's LP, kept so the target can move and rows can be added between solves."""

    highs: highspy.Highs
    n: int
    q_row: int
    q_slack: int  # first of the (up, down) pair
    curtail_row: int | None
    dr_row: int | None
    sigma: int | None  # stage 2: the largest violation
    limit_nodes: IArray  # stage 2: node-phases whose limit rows are in
    v_bounds: tuple[float, float]


def build_stage1(vlsm: Vlsm, ders: Sequence[DerState], monitored: IArray) -> DispatchLp:
    """Stage 1 (seed 000 §3.1.2): disaggregate the request over the DERs, minimizing demand-response
    cost plus the total voltage deviation of the VLSM."""
    lp = _common(vlsm, ders)
    add_voltage_deviation(lp.highs, vlsm, monitored)
    return lp


def build_stage2(vlsm: Vlsm, ders: Sequence[DerState], v_bounds: tuple[float, float]) -> DispatchLp:
    """Stage 2 (seed 000 §3.1.2): minimize demand-response cost with no voltage violation, smart
    inverters and controllable loads only (capacitors and regulators stay as they are); limit rows
    come as they bind (`add_voltage_limits`)."""
    lp = _common(vlsm, ders)
    lp.sigma = _cols(lp.highs, np.array([W_VIOLATION]), np.zeros(1), np.array([INF]))
    lp.v_bounds = v_bounds
    return lp


def _common(vlsm: Vlsm, ders: Sequence[DerState]) -> DispatchLp:
    highs = _quiet_highs()
    n = len(ders)
    add_der_columns(highs, ders)
    add_inverter_polygons(highs, ders)
    q_row, q_slack = add_q_tracking(highs, vlsm)
    curtail = add_pv_curtailment(highs, ders)
    dr = add_demand_response(highs, ders)
    none = np.zeros(0, dtype=np.int32)
    return DispatchLp(highs, n, q_row, q_slack, curtail, dr, None, none, (0.0, INF))


def add_der_columns(highs: highspy.Highs, ders: Sequence[DerState]) -> None:
    # 0 ≤ p_j ≤ available PV within the P rating / offered reduction (seed 000 §3.1.2)
    _cols(highs, np.array([_p_cost(d) for d in ders]), np.zeros(len(ders)), p_max_pu(ders))
    # -Q̄abs_j ≤ q_j ≤ Q̄inj_j: IEEE 1547-2018 §5.2 reactive ratings, inside the disk; loads none
    q_lo, q_hi = q_bounds_pu(ders)
    _cols(highs, np.zeros(len(ders)), q_lo, q_hi)


def p_max_pu(ders: Sequence[DerState]) -> FArray:
    return np.array([d.p_max_kw for d in ders]) / S_BASE_KVA


def q_bounds_pu(ders: Sequence[DerState]) -> tuple[FArray, FArray]:
    ranges = np.array([d.q_range_kvar for d in ders], dtype=float).reshape(-1, 2) / S_BASE_KVA
    return ranges[:, 0], ranges[:, 1]


def within_ratings(x: FArray, ders: Sequence[DerState]) -> FArray:
    """x with each DER inside its ratings exactly: the LP keeps them only to its tolerance, and the
    registry refuses a set point a hair beyond a rating. A nudge of ~1e-4 kvar at most."""
    n = len(ders)
    p = np.clip(x[:n], 0.0, p_max_pu(ders))
    q = np.clip(x[n:], *q_bounds_pu(ders))
    s = np.array([d.s_rated_kva if d.kind == "pv" else np.inf for d in ders]) / S_BASE_KVA
    over = np.hypot(p, q) > s
    if over.any():
        shrink = s[over] / np.hypot(p[over], q[over])
        p[over], q[over] = p[over] * shrink, q[over] * shrink
    return np.concatenate([p, q])


def _p_cost(d: DerState) -> float:
    """Demand-response cost per pu reduced; for PV, a small price on every kW held back."""
    if d.kind == "load":
        return d.dr_cost_per_kwh * S_BASE_KVA
    return -W_CURTAIL


def add_inverter_polygons(highs: highspy.Highs, ders: Sequence[DerState]) -> None:
    """p_j² + q_j² ≤ S̄_j² (seed 004 §IV-C) as the inscribed `SIDES`-gon, edges with p > 0 only."""
    pv = [j for j, d in enumerate(ders) if d.kind == "pv"]
    n = len(ders)
    for theta, _ in edge_normals(SIDES):
        for j in pv:
            s = ders[j].s_rated_kva / S_BASE_KVA
            _rows(highs, -INF, math.cos(math.pi / SIDES) * s, [j, n + j], [math.cos(theta), math.sin(theta)])


def add_q_tracking(highs: highspy.Highs, vlsm: Vlsm) -> tuple[int, int]:
    """Q_k + ∂Q/∂x (x − x_k) − up + down = Q_request (seed 002: track the substation Q including losses);
    the right-hand side is set per solve (`set_targets`)."""
    slack = _cols(highs, np.full(2, W_REQUEST), np.zeros(2), np.full(2, INF))
    idx = [*list(range(vlsm.dq.size)), slack, slack + 1]
    _rows(highs, 0.0, 0.0, idx, [*vlsm.dq, -1.0, 1.0])
    return int(highs.getNumRow()) - 1, slack


def add_pv_curtailment(highs: highspy.Highs, ders: Sequence[DerState]) -> int | None:
    """Σ_pv (S_j − p_j) = the requested aggregated PV curtailment (seed 000 §3.2.1), soft."""
    pv = [j for j, d in enumerate(ders) if d.kind == "pv"]
    if not pv:
        return None
    slack = _cols(highs, np.full(2, W_RESOURCE), np.zeros(2), np.full(2, INF))
    _rows(highs, 0.0, 0.0, [*pv, slack, slack + 1], [1.0] * len(pv) + [1.0, -1.0])
    return int(highs.getNumRow()) - 1


def add_demand_response(highs: highspy.Highs, ders: Sequence[DerState]) -> int | None:
    """Σ_load p_j = the demand-response requirement (seed 000 §3.2.1), soft."""
    loads = [j for j, d in enumerate(ders) if d.kind == "load"]
    if not loads:
        return None
    slack = _cols(highs, np.full(2, W_RESOURCE), np.zeros(2), np.full(2, INF))
    _rows(highs, 0.0, 0.0, [*loads, slack, slack + 1], [1.0] * len(loads) + [-1.0, 1.0])
    return int(highs.getNumRow()) - 1


def add_voltage_deviation(highs: highspy.Highs, vlsm: Vlsm, monitored: IArray) -> None:
    """Σ_i |V_i − 1| over the monitored node-phases (seed 000 §3.1.2's "overall voltage deviation"):
    J_i x − d⁺_i + d⁻_i = 1 − (v_i − J_i x_k), d± ≥ 0 priced `W_DEVIATION`."""
    dv = vlsm.dv(monitored)
    m, cols = dv.shape
    first = _cols(highs, np.full(2 * m, W_DEVIATION), np.zeros(2 * m), np.full(2 * m, INF))
    const = vlsm.v[monitored] - dv @ vlsm.x
    for k in range(m):
        rhs = 1.0 - float(const[k])
        _rows(highs, rhs, rhs, [*range(cols), first + k, first + m + k], [*dv[k], -1.0, 1.0])


def add_voltage_limits(lp: DispatchLp, vlsm: Vlsm, nodes: IArray) -> None:
    """v_min ≤ v_i + J_i (x − x_k) + e_i and v_i + J_i (x − x_k) − e_i ≤ v_max (ANSI C84.1 range A,
    seed 004 §IV-C), each node-phase's violation e_i ≥ 0 priced `W_EACH_VIOLATION` and at most σ, the
    largest, priced `W_VIOLATION`. With σ alone the LP shrank the worst violation and let the others
    spread to it: more node-phases outside the limits than stage 1 left (issue #11)."""
    if lp.sigma is None or nodes.size == 0:
        return
    lo, hi = lp.v_bounds
    dv = vlsm.dv(nodes)
    const = vlsm.v[nodes] - dv @ vlsm.x
    first = _cols(
        lp.highs, np.full(nodes.size, W_EACH_VIOLATION), np.zeros(nodes.size), np.full(nodes.size, INF)
    )
    cols = list(range(2 * lp.n))
    for k in range(nodes.size):
        row, each = [*dv[k]], first + k
        _rows(lp.highs, lo - float(const[k]), INF, [*cols, each], [*row, 1.0])
        _rows(lp.highs, -INF, hi - float(const[k]), [*cols, each], [*row, -1.0])
        _rows(lp.highs, -INF, 0.0, [each, lp.sigma], [1.0, -1.0])
    lp.limit_nodes = np.concatenate([lp.limit_nodes, nodes]).astype(np.int32)


def set_targets(
    lp: DispatchLp,
    vlsm: Vlsm,
    q_target_kvar: float,
    ders: Sequence[DerState],
    curtail_kw: float,
    dr_kw: float,
) -> None:
    """The right-hand sides of the request rows, linearized around `vlsm`'s point."""
    rhs = q_target_kvar / S_BASE_KVA - vlsm.q_sub + float(vlsm.dq @ vlsm.x)
    _bounds(lp.highs, lp.q_row, rhs, rhs)
    if lp.curtail_row is not None:
        avail = sum(d.p_max_kw for d in ders if d.kind == "pv")
        value = (avail - curtail_kw) / S_BASE_KVA
        _bounds(lp.highs, lp.curtail_row, value, value)
    if lp.dr_row is not None:
        _bounds(lp.highs, lp.dr_row, dr_kw / S_BASE_KVA, dr_kw / S_BASE_KVA)


def solve(lp: DispatchLp) -> FArray:
    """x at the optimum (every stage is feasible: the requests and limits are elastic)."""
    lp.highs.run()
    status = lp.highs.getModelStatus()
    for option, value in RETRIES:
        if status == highspy.HighsModelStatus.kOptimal:
            break
        status = _cold_start(lp.highs, option, value)
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"The dispatch LP ended {lp.highs.modelStatusToString(status)}.")
    return np.array(lp.highs.getSolution().col_value[: 2 * lp.n])


def _cold_start(highs: highspy.Highs, option: str, value: int | str) -> highspy.HighsModelStatus:
    """Solve again from no basis with `option` set to `value` for this run only."""
    _, before = highs.getOptionValue(option)  # highspy answers (status, value)
    highs.clearSolver()
    highs.setOptionValue(option, value)
    highs.run()
    highs.setOptionValue(option, before)
    return highs.getModelStatus()


def q_slack_kvar(lp: DispatchLp) -> float:
    """Unmet Q at the LP's optimum, kvar (+: the LP's Q is above the target)."""
    values = lp.highs.getSolution().col_value
    return (values[lp.q_slack] - values[lp.q_slack + 1]) * S_BASE_KVA


def monitored_rows(count: int) -> IArray:
    if count <= MAX_MONITORED:
        return np.arange(count, dtype=np.int32)
    return np.unique(np.linspace(0, count - 1, MAX_MONITORED).round().astype(np.int32))


def _cols(highs: highspy.Highs, cost: FArray, lower: FArray, upper: FArray) -> int:
    first = int(highs.getNumCol())
    k = cost.size
    highs.addCols(
        k, cost, lower, upper, 0, np.zeros(k, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0)
    )
    return first


def _rows(
    highs: highspy.Highs, lower: float, upper: float, index: Sequence[int], coef: Sequence[float]
) -> None:
    highs.addRow(lower, upper, len(index), np.asarray(index, dtype=np.int32), np.asarray(coef, dtype=float))


def _bounds(highs: highspy.Highs, row: int, lower: float, upper: float) -> None:
    highs.changeRowBounds(row, lower, upper)


def _quiet_highs() -> highspy.Highs:
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    return highs
