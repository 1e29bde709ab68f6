"""One linear program of the volt/var OPF, linearized at a converged AC operating point.

Columns are changes from the operating point: bus angles and magnitudes (the linearized AC power
flow is part of the LP), then the controls — generator set points (the |V| columns of their buses),
shunt steps, DSO Q injections, PV curtailment, demand response — then the voltage deviations and the
elastic slacks that keep the LP feasible from an operating point that breaks a limit. The trust
region bounds each control's move to a share of its range. Solved with HiGHS (highspy, ADR 0010).
Framework-free: no Django here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
from scipy import sparse

from apps.ems.engine.grid import SET_POINT_RANGE, SHUNT_STEPS, Controls, FArray, Point, Study
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

INF = highspy.kHighsInf
PENALTY = 1e4  # per pu of limit violation: far above any last resort, so limits come first
CURTAIL_COST = 5.0  # per pu of PV curtailed; losses cost 1 per pu: a last resort
DR_COST = 10.0  # per pu of demand response: the very last resort
V_MARGIN = 5e-4  # pu kept from voltage limits, so the AC verification lands inside them
Q_MARGIN = 1e-3  # pu (0.1 Mvar) kept from generator Q limits
I_MARGIN = 0.005  # share of a branch rating kept free
V_TRUST = 0.1  # pu: |ΔV| of any bus at a trust radius of 1


@dataclass(frozen=True)
class Weights:
    voltage: float = 0.05  # objective per pu of Σ|V − 1| (losses in pu of base MVA)


Blocks = list[tuple[slice, Any]]  # (column block, sparse coefficients of the rows on it)


@dataclass
class Lp:
    """Columns (cost, bounds) and rows (COO triplets, bounds), assembled block by block."""

    cost: list[FArray] = field(default_factory=list)
    lower: list[FArray] = field(default_factory=list)
    upper: list[FArray] = field(default_factory=list)
    columns: int = 0
    rows: list[sparse.coo_matrix] = field(default_factory=list)
    row_lower: list[FArray] = field(default_factory=list)
    row_upper: list[FArray] = field(default_factory=list)

    def add_columns(self, cost: FArray, lower: FArray, upper: FArray) -> slice:
        start = self.columns
        self.cost.append(np.asarray(cost, float))
        self.lower.append(np.asarray(lower, float))
        self.upper.append(np.asarray(upper, float))
        self.columns += len(cost)
        return slice(start, self.columns)

    def add_rows(self, blocks: Blocks, lower: FArray, upper: FArray) -> None:
        """Rows whose coefficients on each column block are given as sparse matrices."""
        coo = [sparse.coo_matrix(matrix) for _, matrix in blocks]
        data = np.concatenate([m.data for m in coo])
        row = np.concatenate([m.row for m in coo])
        col = np.concatenate([m.col + cols.start for (cols, _), m in zip(blocks, coo, strict=True)])
        self.rows.append(sparse.coo_matrix((data, (row, col)), shape=(len(lower), self.columns)))
        self.row_lower.append(np.asarray(lower, float))
        self.row_upper.append(np.asarray(upper, float))


@dataclass(frozen=True)
class Step:
    """The LP's answer: the new controls and the objective it predicts (without the constant terms)."""

    controls: Controls
    predicted: float


def build_volt_var_lp(
    study: Study, point: Point, c: Controls, radius: float, weights: Weights, *, shunts_free: bool = True
) -> tuple[Lp, dict[str, slice]]:
    """Variables, linearized power flow, limits, objective: loss and voltage-deviation minimization."""
    lp, cols = Lp(), {}
    cols["theta"], cols["vm"] = add_state_variables(lp, study, point, c, radius)
    cols.update(add_control_variables(lp, study, c, radius, radius if shunts_free else 0.0))
    add_power_balance(lp, study, point, cols)
    cols["dev"], cols["v_slack"] = add_voltage_limits(lp, point, cols, weights)
    cols["q_slack"] = add_generator_q_limits(lp, study, point, cols)
    cols["i_slack"] = add_branch_limits(lp, point, cols)
    set_loss_objective(lp, point, cols)
    return lp, cols


def add_state_variables(
    lp: Lp, study: Study, point: Point, c: Controls, radius: float
) -> tuple[slice, slice]:
    n = len(point.vm)
    theta_lo, theta_hi = np.full(n, -INF), np.full(n, INF)
    theta_lo[point.ref] = theta_hi[point.ref] = 0.0  # the slack's angle is the reference
    step = V_TRUST * radius
    vm_lo, vm_hi = np.full(n, -step), np.full(n, step)
    # a generator bus's |V| is its set point: a control within its range (trust region)
    at = point.ppc_bus[study.gen_buses]
    vm_lo[at] = np.maximum(SET_POINT_RANGE[0] - c.v_set, -step)
    vm_hi[at] = np.minimum(SET_POINT_RANGE[1] - c.v_set, step)
    zero = np.zeros(n)
    return lp.add_columns(zero, theta_lo, theta_hi), lp.add_columns(zero, vm_lo, vm_hi)


def _trust_box(now: FArray, low: FArray, high: FArray, radius: float) -> tuple[FArray, FArray]:
    span = radius * (high - low)
    return np.maximum(low - now, -span), np.minimum(high - now, span)


def add_control_variables(
    lp: Lp, study: Study, c: Controls, radius: float, shunt_radius: float
) -> dict[str, slice]:
    zeros = np.zeros(len(study.dsos))
    steps = c.shunt_steps
    shunt = _trust_box(steps, np.zeros_like(steps), np.full_like(steps, SHUNT_STEPS), shunt_radius)
    return {
        "shunt": lp.add_columns(np.zeros(len(c.shunt_steps)), *shunt),
        "dso_q": lp.add_columns(zeros, *_trust_box(c.dso_q, study.q_lo, study.q_hi, radius)),
        "curtail": lp.add_columns(
            np.full(len(zeros), CURTAIL_COST), *_trust_box(c.curtail, zeros, study.curtail_hi, radius)
        ),
        "dr": lp.add_columns(np.full(len(zeros), DR_COST), *_trust_box(c.dr, zeros, study.dr_hi, radius)),
    }


def _incidence(rows: int, at: np.ndarray, values: FArray | None = None) -> sparse.csr_matrix:
    """(rows × len(at)) with ``values`` (default 1) at (at[k], k)."""
    data = np.ones(len(at)) if values is None else values
    return sparse.csr_matrix((data, (at, np.arange(len(at)))), shape=(rows, len(at)))


def _injection_blocks(
    study: Study, point: Point, cols: dict[str, slice], which: np.ndarray
) -> tuple[Blocks, Blocks]:
    """Coefficients of ΔP and ΔQ balance at the buses ``which`` (ppci order): seed 004's T-D coupling,
    Pg − Pd = P(θ,|V|), Qg − Qd = Q(θ,|V|) + |V|²·q_shunt, linearized."""
    n = len(point.vm)
    dso = point.ppc_bus[study.dso_bus]
    shunt_bus = point.ppc_bus[study.net.shunt.bus.to_numpy(dtype=np.int64)]
    shunt_coef = point.vm[shunt_bus] ** 2 * study.shunt_unit
    pick = sparse.csr_matrix((np.ones(len(which)), (np.arange(len(which)), which)), shape=(len(which), n))
    state = (cols["theta"].start, cols["vm"].stop)
    p = [
        (slice(*state), pick @ point.dp),
        (cols["curtail"], pick @ _incidence(n, dso)),
        (cols["dr"], -(pick @ _incidence(n, dso))),
    ]
    q = [
        (slice(*state), pick @ point.dq),
        (cols["shunt"], pick @ _incidence(n, shunt_bus, shunt_coef)),
        (cols["dso_q"], -(pick @ _incidence(n, dso))),
    ]
    return p, q


def add_power_balance(lp: Lp, study: Study, point: Point, cols: dict[str, slice]) -> None:
    # ΔP balance at every bus but the slack; ΔQ balance at load (PQ) buses: generators fix the others
    p_buses = np.sort(np.concatenate([point.pv, point.pq]))
    p, _ = _injection_blocks(study, point, cols, p_buses)
    lp.add_rows(p, np.zeros(len(p_buses)), np.zeros(len(p_buses)))
    _, q = _injection_blocks(study, point, cols, point.pq)
    lp.add_rows(q, np.zeros(len(point.pq)), np.zeros(len(point.pq)))


def add_voltage_limits(lp: Lp, point: Point, cols: dict[str, slice], weights: Weights) -> tuple[slice, slice]:
    # V_MIN_PU ≤ |V| ≤ V_MAX_PU at every bus (elastic), and e ≥ ||V| − 1| for the deviation objective
    n = len(point.vm)
    eye = sparse.identity(n, format="csr")
    dev = lp.add_columns(np.full(n, weights.voltage), np.zeros(n), np.full(n, INF))
    slack = lp.add_columns(np.full(2 * n, PENALTY), np.zeros(2 * n), np.full(2 * n, INF))
    lo, hi = V_MIN_PU + V_MARGIN - point.vm, V_MAX_PU - V_MARGIN - point.vm
    lp.add_rows([(cols["vm"], eye), (slack, sparse.hstack([eye, -eye]))], lo, hi)
    lp.add_rows([(cols["vm"], eye), (dev, -eye)], np.full(n, -INF), 1.0 - point.vm)
    lp.add_rows([(cols["vm"], -eye), (dev, -eye)], np.full(n, -INF), point.vm - 1.0)
    return dev, slack


def add_generator_q_limits(lp: Lp, study: Study, point: Point, cols: dict[str, slice]) -> slice:
    # Q_min ≤ Qg ≤ Q_max of the generators at each set-point bus (elastic)
    limited = np.isfinite(point.qg_min) | np.isfinite(point.qg_max)
    at = point.gen_at[limited]
    m = len(at)
    _, q = _injection_blocks(study, point, cols, at)
    slack = lp.add_columns(np.full(2 * m, PENALTY), np.zeros(2 * m), np.full(2 * m, INF))
    eye = sparse.identity(m, format="csr")
    q.append((slack, sparse.hstack([eye, -eye])))
    lo = point.qg_min[limited] + Q_MARGIN - point.qg[limited]
    hi = point.qg_max[limited] - Q_MARGIN - point.qg[limited]
    lp.add_rows(q, np.where(np.isfinite(lo), lo, -INF), np.where(np.isfinite(hi), hi, INF))
    return slack


def add_branch_limits(lp: Lp, point: Point, cols: dict[str, slice]) -> slice:
    # |I| ≤ rating at both ends of branches near their rating (elastic)
    m = len(point.branch_ends)
    slack = lp.add_columns(np.full(m, PENALTY), np.zeros(m), np.full(m, INF))
    if m:
        state = slice(cols["theta"].start, cols["vm"].stop)
        hi = point.branch_end_limit * (1 - I_MARGIN) - point.branch_ends
        lp.add_rows([(state, point.branch_grad), (slack, -sparse.identity(m))], np.full(m, -INF), hi)
    return slack


def set_loss_objective(lp: Lp, point: Point, cols: dict[str, slice]) -> None:
    # real-power losses = Σ_i P_i(θ, |V|), linearized; voltage deviation and last resorts are costed above
    gradient = np.asarray(point.dp.sum(axis=0)).ravel()
    lp.cost[0] = gradient[: len(point.vm)]
    lp.cost[1] = gradient[len(point.vm) :]


def solve_lp(lp: Lp) -> FArray | None:
    """The LP's optimal column values, or None if HiGHS finds none."""
    a = sparse.vstack([_widen(r, lp.columns) for r in lp.rows]).tocsc()
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = lp.columns, a.shape[0]
    model.col_cost_ = np.concatenate(lp.cost)
    model.col_lower_, model.col_upper_ = np.concatenate(lp.lower), np.concatenate(lp.upper)
    model.row_lower_, model.row_upper_ = np.concatenate(lp.row_lower), np.concatenate(lp.row_upper)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_, model.a_matrix_.index_, model.a_matrix_.value_ = a.indptr, a.indices, a.data
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("presolve", "off")  # a third faster on these LPs (case118: 33 vs 50 ms)
    highs.passModel(model)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.asarray(highs.getSolution().col_value, dtype=float)


def _widen(rows: sparse.coo_matrix, columns: int) -> sparse.coo_matrix:
    """Rows added before later column blocks have zeros there."""
    return sparse.coo_matrix((rows.data, (rows.row, rows.col)), shape=(rows.shape[0], columns))


def step_controls(study: Study, point: Point, c: Controls, x: FArray, cols: dict[str, slice]) -> Controls:
    at = point.ppc_bus[study.gen_buses]
    return Controls(
        v_set=c.v_set + x[cols["vm"]][at],
        shunt_steps=c.shunt_steps + x[cols["shunt"]],
        dso_q=np.clip(c.dso_q + x[cols["dso_q"]], study.q_lo, study.q_hi),
        curtail=np.clip(c.curtail + x[cols["curtail"]], 0.0, study.curtail_hi),
        dr=np.clip(c.dr + x[cols["dr"]], 0.0, study.dr_hi),
    )
