"""Volt/var OPF of a transmission case with DSO interfaces, by successive linear programming.

Minimize real-power losses plus weighted voltage deviation (PV curtailment and demand response cost
more: last resorts) over generator voltage set points, switched shunts, and each DSO's Q within its
reported capability, subject to 0.95–1.05 pu at every bus, generator Q limits and branch ratings.
Each iteration linearizes at a converged Newton–Raphson power flow (``grid.solve``), solves the LP
(``volt_var_lp``) inside a trust region and accepts the step only if the AC merit improves; shunts
are solved continuous, rounded to whole steps and re-optimized with the other controls. The returned
solution is verified by a full AC power flow: it breaks no limit, or ``OpfInfeasible`` says which.
Framework-free: no Django here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.ems.engine.case import Injection, bus_number_of
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.grid import (
    Controls,
    Flow,
    Point,
    Study,
    build_study,
    exact_point,
    fast_point,
)
from apps.ems.engine.volt_var_lp import (
    CURTAIL_COST,
    DR_COST,
    PENALTY,
    Weights,
    build_volt_var_lp,
    solve_lp,
    step_controls,
)
from apps.ems.engine.whatif import branch_loading
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

ACCEPT_AT, GROW_AT, SHRINK = 0.01, 0.5, 0.25  # trust-region ratio thresholds and shrink factor
MAX_ITERATIONS = 30  # linear programs in all; continuous shunts get at most half
TOLERANCE = 1e-4  # predicted gains below this share of the merit end a phase
DEFAULT_WEIGHTS = Weights()
LIMIT_TOLERANCE = 1e-6  # pu (and share of a rating) the AC verification allows beyond a limit


class OpfInfeasible(ValueError):
    """No operating point found that meets every limit; the message names the limits broken."""


@dataclass(frozen=True)
class DsoDispatch:
    """The EMS→DMS message for one DSO interface and interval (per feeder, engineering units)."""

    bus: int
    count: int
    q_request_kvar: float  # reactive power each feeder is asked to inject at the substation
    v_pu: float  # the substation's transmission-bus voltage after the dispatch
    pv_curtailment_kw: float
    dr_kw: float
    q_base_kvar: float = 0.0  # the base demand Q the solve put per feeder: it draws q_base − q_request

    def as_json(self) -> dict[str, float | int]:
        return {
            "bus": self.bus,
            "count": self.count,
            "q_request_kvar": round(self.q_request_kvar, 3),
            "v_pu": round(self.v_pu, 5),
            "pv_curtailment_kw": round(self.pv_curtailment_kw, 3),
            "dr_kw": round(self.dr_kw, 3),
            "q_base_kvar": round(self.q_base_kvar, 3),
        }


@dataclass(frozen=True)
class OpfResult:
    case: str
    title: str
    iterations: int  # linear programs solved
    objective: float  # AC-verified, in MW-equivalent (losses + weighted deviation + last resorts)
    objective_before: float
    losses_mw: float
    losses_mw_before: float
    buses: dict[str, float]  # bus number → vm_pu after
    buses_before: dict[str, float]
    generators: dict[str, dict[str, float]]  # bus number → v_set_pu, q_mvar
    shunts: dict[str, float]  # bus number → Mvar consumed at 1 pu (negative: capacitive)
    dsos: list[DsoDispatch]
    violations_before: list[str]
    solve_s: float
    branches: dict[str, float]  # "FROM-TO" → loading % after
    branches_before: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "title": self.title,
            "iterations": self.iterations,
            "objective_mw": round(self.objective, 6),
            "objective_mw_before": round(self.objective_before, 6),
            "losses_mw": round(self.losses_mw, 6),
            "losses_mw_before": round(self.losses_mw_before, 6),
            "buses": self.buses,
            "buses_before": self.buses_before,
            "generators": self.generators,
            "shunts": self.shunts,
            "dsos": [d.as_json() for d in self.dsos],
            "violations_before": self.violations_before,
            "solve_s": round(self.solve_s, 4),
            "branches": self.branches,
            "branches_before": self.branches_before,
        }


def run_opf(
    case: str,
    dsos: Sequence[DsoInterface] = (),
    outages: Sequence[str] = (),
    weights: Weights = DEFAULT_WEIGHTS,
    *,
    injections: Sequence[Injection] = (),
    switch_shunts: bool = True,
) -> OpfResult:
    """The volt/var OPF of the study; ``ValueError`` on bad input or a power flow that fails,
    ``OpfInfeasible`` if no AC-verified operating point meets every limit."""
    started = time.perf_counter()
    study = build_study(case, dsos, outages, injections)
    controls = study.start.copy()
    point, flow = exact_point(study, controls)
    objective_before, losses_before = _merit(study, point, controls, weights), point.losses
    buses_before, branches_before = _buses(study), branch_loading(study.net)
    violations_before = _violations(study, point)
    controls, iterations = optimize(study, flow, controls, point, weights, switch_shunts)
    point, _ = exact_point(study, controls)  # the verification: pandapower's own full AC power flow
    broken = _violations(study, point)
    if broken:
        raise OpfInfeasible(
            f"No operating point of {study.title} meets every limit: {'; '.join(broken[:8])}."
        )
    return OpfResult(
        case=study.case,
        title=study.title,
        iterations=iterations,
        objective=_merit(study, point, controls, weights) * study.base_mva,
        objective_before=objective_before * study.base_mva,
        losses_mw=point.losses * study.base_mva,
        losses_mw_before=losses_before * study.base_mva,
        buses=_buses(study),
        buses_before=buses_before,
        generators=_generators(study, point, controls),
        shunts=_shunts(study, controls),
        dsos=_dispatch(study, point, controls),
        violations_before=violations_before,
        solve_s=time.perf_counter() - started,
        branches=branch_loading(study.net),
        branches_before=branches_before,
    )


def optimize(
    study: Study, flow: Flow, controls: Controls, point: Point, weights: Weights, switch_shunts: bool
) -> tuple[Controls, int]:
    """Continuous shunts first, then whole shunt steps with the other controls re-optimized."""
    iterations = 0
    if switch_shunts and len(study.shunt_unit):
        controls, point, iterations = successive_lp(
            study, flow, controls, point, weights, shunts_free=True, budget=MAX_ITERATIONS // 2
        )
        controls.shunt_steps = np.round(controls.shunt_steps)
        point = fast_point(study, flow, controls)
    radius = 0.125 if iterations else 0.5  # after rounding, close to the optimum already
    controls, point, more = successive_lp(
        study,
        flow,
        controls,
        point,
        weights,
        shunts_free=False,
        radius=radius,
        budget=MAX_ITERATIONS - iterations,
    )
    return controls, iterations + more


def successive_lp(
    study: Study,
    flow: Flow,
    controls: Controls,
    point: Point,
    weights: Weights,
    *,
    shunts_free: bool,
    radius: float = 0.5,
    budget: int = MAX_ITERATIONS,
) -> tuple[Controls, Point, int]:
    """Trust-region SLP: accept a step when the AC merit falls by at least a tenth of the LP's
    prediction; grow the region after good predictions, shrink it after bad ones."""
    merit, solved = _merit(study, point, controls, weights), 0
    for _ in range(budget):
        lp, cols = build_volt_var_lp(study, point, controls, radius, weights, shunts_free=shunts_free)
        x = solve_lp(lp)
        solved += 1
        if x is None:
            break
        predicted = point.losses + _constant(controls) + float(np.concatenate(lp.cost) @ x)
        if merit - predicted < TOLERANCE * max(merit, 1e-3):
            break
        trial = step_controls(study, point, controls, x, cols)
        try:
            trial_point = fast_point(study, flow, trial)
        except ValueError:
            trial_point = None
        trial_merit = _merit(study, trial_point, trial, weights) if trial_point else np.inf
        ratio = (merit - trial_merit) / (merit - predicted)
        if ratio > ACCEPT_AT and trial_point is not None:
            controls, point, merit = trial, trial_point, trial_merit
            radius = min(1.0, 2 * radius) if ratio > GROW_AT else radius
        else:
            radius *= SHRINK
        if radius < 1e-4:
            break
    return controls, point, solved


def _constant(c: Controls) -> float:
    return float(CURTAIL_COST * c.curtail.sum() + DR_COST * c.dr.sum())


def _merit(study: Study, point: Point, c: Controls, weights: Weights) -> float:
    """The LP's objective evaluated on the AC power flow (pu): losses, deviation, last resorts and
    the limit violations — against the limits themselves: the LP's margins absorb its linearization
    error, and charging that error the penalty would reject every step near a limit."""
    vm = point.vm
    over = np.maximum(vm - V_MAX_PU, 0) + np.maximum(V_MIN_PU - vm, 0)
    q_over = np.maximum(point.qg - point.qg_max, 0) + np.maximum(point.qg_min - point.qg, 0)
    i_over = np.maximum(point.branch_current - point.branch_limit, 0)
    violation = float(over.sum() + q_over.sum() + i_over.sum())
    deviation = float(np.abs(vm - 1.0).sum())
    return point.losses + weights.voltage * deviation + _constant(c) + PENALTY * violation


def _violations(study: Study, point: Point) -> list[str]:
    """Limits the AC power flow breaks, in an operator's words (case bus numbers)."""
    number = bus_number_of(study.net)
    found: list[str] = []
    for index, vm in study.net.res_bus.vm_pu.items():
        if vm < V_MIN_PU - LIMIT_TOLERANCE or vm > V_MAX_PU + LIMIT_TOLERANCE:
            found.append(f"bus {number[int(index)]} at {vm:.4f} pu (limits {V_MIN_PU}–{V_MAX_PU})")
    base = study.base_mva
    for bus, q, low, high in zip(study.gen_buses, point.qg, point.qg_min, point.qg_max, strict=True):
        if q < low - LIMIT_TOLERANCE or q > high + LIMIT_TOLERANCE:
            limits = f"limits {low * base:g}–{high * base:g}"
            found.append(f"generator Q at bus {number[int(bus)]} {q * base:.2f} Mvar ({limits})")
    loading = point.branch_current / point.branch_limit
    bus_of_ppc = {int(ppc): number[pd] for pd, ppc in enumerate(point.ppc_bus) if pd in number}
    for k in np.flatnonzero(loading > 1 + LIMIT_TOLERANCE):
        f, t = sorted(bus_of_ppc[int(b)] for b in point.branch_ends_bus[k])
        found.append(f"branch {f}-{t} at {100 * loading[k]:.1f} % of its rating")
    return found


def _buses(study: Study) -> dict[str, float]:
    number = bus_number_of(study.net)
    return {str(number[int(i)]): float(v) for i, v in study.net.res_bus.vm_pu.items()}


def _generators(study: Study, point: Point, c: Controls) -> dict[str, dict[str, float]]:
    number = bus_number_of(study.net)
    return {
        str(number[int(bus)]): {"v_set_pu": float(v), "q_mvar": float(q) * study.base_mva}
        for bus, v, q in zip(study.gen_buses, c.v_set, point.qg, strict=True)
    }


def _shunts(study: Study, c: Controls) -> dict[str, float]:
    number = bus_number_of(study.net)
    q = study.shunt_unit * c.shunt_steps * study.base_mva
    out: dict[str, float] = {}
    for bus, value in zip(study.net.shunt.bus, q, strict=True):
        key = str(number[int(bus)])
        out[key] = out.get(key, 0.0) + float(value)
    return out


def _dispatch(study: Study, point: Point, c: Controls) -> list[DsoDispatch]:
    per_kw = study.base_mva * 1000.0
    vm = study.net.res_bus.vm_pu
    return [
        DsoDispatch(
            bus=d.bus,
            count=d.count,
            q_request_kvar=float(c.dso_q[k]) * per_kw / d.count,
            v_pu=float(vm[int(study.dso_bus[k])]),
            pv_curtailment_kw=float(c.curtail[k]) * per_kw / d.count,
            dr_kw=float(c.dr[k]) * per_kw / d.count,
            q_base_kvar=float(study.base_q[k]) * per_kw / d.count,
        )
        for k, d in enumerate(study.dsos)
    ]
