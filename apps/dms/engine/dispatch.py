"""DMS dispatch of an EMS request over a feeder's DERs (seed 000 §3.1.2, seed 002).

Stage 1 disaggregates the request (substation Q, substation voltage, aggregated PV curtailment,
demand response) into per-DER active–reactive set points with the VLSM, minimizing demand-response
cost plus the total voltage deviation; its Q target moves by the refreshed LinDist3Flow residual so
the substation Q, losses included, lands on the request. OpenDSS then checks the set points; only if
it finds voltage violations does stage 2 run: minimize demand-response cost with no violations,
smart inverters and controllable loads only — capacitors and regulators stay at their present
settings (they are never moved by the dispatch). Stage 2 is linearized at the OpenDSS answer and
repeats (limits tightened) until OpenDSS agrees. When the limits cannot all be met, stage 2's answer
is kept only if OpenDSS finds no more violations and no larger worst one than at stage 1's set
points; the result says which stage's set points it holds, and the violations left are a shortfall
("voltage limit"). The VLSM is taken at the DERs' available power, not at their present output (the
last run's set points), so the same request under the same conditions gets the same answer.

DERs without communication, with telemetry older than two intervals or offline sit out: their
present output stays in the network as a fixed injection, and the result names them. What the
request asks beyond the DERs' reach is reported as a shortfall with its cause. The next interval's
flexibility is the capability engine's own step after the dispatch (apps/capability/engine/
flexibility.py), not part of it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np

from apps.dms.engine import dispatch_lp as lp
from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dispatch_lp import FArray, Vlsm
from apps.dms.engine.dispatch_report import excess_pu, no_worse, shortfalls, violations, worst_pu
from apps.dms.engine.dispatch_types import (
    DerState,
    DispatchInputError,
    DispatchOptions,
    DispatchRequest,
    DispatchResult,
    Excluded,
    Setpoint,
    Violation,
    check_input,
    exclusion,
)
from apps.dms.engine.limited_nodes import constrained_nodes
from apps.dms.engine.lindist_elements import S_BASE_KVA
from apps.dms.engine.network import DerInjection, Network, OperatingState, PowerFlowResult

LINEAR_ROUNDS = 4  # Q target corrections against the refreshed LinDist3Flow
CHECK_ROUNDS = 2  # OpenDSS checks in stage 1
STAGE2_ROUNDS = 4
Q_TOL = 0.002  # of max(|request|, Q_TOL_FLOOR_KVAR): good enough to stop correcting
Q_TOL_FLOOR_KVAR = 50.0
MARGIN_PU = 0.001  # stage 2 aims this far inside the limits, more each round OpenDSS disagrees
BAND_PU = 0.005  # stage 2 starts with limit rows for node-phases this close to a limit
LAZY_ROUNDS = 6  # limit rows added from the refreshed LinDist3Flow before OpenDSS checks again
LAZY_TOL = 1e-5  # pu beyond a stage-2 bound (inside the margin) that adds a row


@dataclasses.dataclass
class _Case:
    """The feeder, its active DERs and fixed injections, and the request being dispatched."""

    net: Network
    request: DispatchRequest
    active: list[DerState]
    excluded: list[Excluded]
    fixed: dict[str, DerInjection]
    opt: DispatchOptions
    rows: tuple[str, ...]
    ders: Sequence[DerState]

    def state(self, x: FArray) -> OperatingState:
        n, ders = len(self.active), dict(self.fixed)
        for j, d in enumerate(self.active):
            p, q = float(x[j]) * S_BASE_KVA, float(x[n + j]) * S_BASE_KVA
            ders[d.name] = DerInjection(d.bus, d.phases, p, q)
        return OperatingState(self.opt.load_scale, ders, {}, self.request.v_sub_pu)

    def voltages(self, result: PowerFlowResult) -> FArray:
        return np.array([result.voltages_pu[k] for k in self.rows])


def dispatch(
    net: Network, request: DispatchRequest, ders: Sequence[DerState], opt: DispatchOptions | None = None
) -> DispatchResult:
    """Per-DER set points for `request` on `net`; DispatchInputError on input it refuses."""
    opt = opt or DispatchOptions()
    check_input(net, request, ders, opt)
    case = _case(net, request, ders, opt)
    clock: dict[str, float] = {}
    started = time.perf_counter()
    x0 = _reference_x(case)
    base = opendss_pf.solve(net, case.state(x0))
    model = lindist3flow.build(net, base if base.converged else None)
    vlsm = lp.build_vlsm(model, case.state(x0), case.active, case.rows, x0)
    clock["model_ms"] = _lap(started)
    first = _stage1(case, model, vlsm)
    clock["stage1_ms"] = _lap(started) - clock["model_ms"]
    kept, note = first, ""
    if first.found:
        point = vlsm.at(first.x, case.voltages(first.check), *_pq(first.check))
        kept, note = _better(first, _stage2(case, model, point), opt)
    clock["stage2_ms"] = _lap(started) - sum(clock.values())
    return _result(case, first, kept, note, clock)


@dataclasses.dataclass(frozen=True)
class _Answer:
    """One stage's set points `x`, OpenDSS at them, the Q miss (kvar) and the violations found."""

    x: FArray
    check: PowerFlowResult
    unmet: float
    found: tuple[Violation, ...]
    stage: int


def _answer(case: _Case, x: FArray, check: PowerFlowResult, stage: int) -> _Answer:
    found = violations(case.rows, case.voltages(check), case.opt)
    return _Answer(x, check, check.substation_q_kvar - case.request.q_kvar, found, stage)


def _reference_x(case: _Case) -> FArray:
    """Where the VLSM is taken: each PV unit at its available power and unity power factor, no demand
    response. Not the units' present outputs: those are the last run's set points, and linearizing
    there made every answer depend on the one before (issue #11: repeats of one request drifted)."""
    p = [d.p_max_kw if d.kind == "pv" else 0.0 for d in case.active]
    return np.concatenate([p, np.zeros(len(case.active))]) / S_BASE_KVA


def _better(first: _Answer, rounds: Sequence[_Answer], opt: DispatchOptions) -> tuple[_Answer, str]:
    """The stage-2 round with the fewest violations, then the smallest worst one, among those that
    leave no more violations and no larger worst one than stage 1 and fewer or smaller ones; else
    stage 1's answer. With the reason, in an operator's words."""
    fit = [a for a in rounds if no_worse(a.found, first.found, opt) and _rank(a, opt) < _rank(first, opt)]
    n1, v1 = len(first.found), _worst_v(first.found, opt)
    if fit:
        kept = min(fit, key=lambda a: _rank(a, opt))
        told = f"{n1} → {len(kept.found)} voltage violations"
        if not kept.found:
            return kept, f"{told}: stage 2 removed them all; stage 2's set points were kept."
        worst = f"worst {v1:.4f} → {_worst_v(kept.found, opt):.4f} pu"
        return kept, f"{told} ({worst}): stage 2's set points were kept, violations are left."
    best = min(rounds, key=lambda a: _rank(a, opt))
    return first, (
        f"Stage 2's best answer left {len(best.found)} violations (worst {_worst_v(best.found, opt):.4f} pu) "
        f"against stage 1's {n1} (worst {v1:.4f} pu): no better, so stage 1's set points were kept."
    )


def _worst_v(found: tuple[Violation, ...], opt: DispatchOptions) -> float:
    return max(found, key=lambda v: excess_pu(v, opt)).v_pu if found else math.nan


def _case(net: Network, request: DispatchRequest, ders: Sequence[DerState], opt: DispatchOptions) -> _Case:
    excluded: list[Excluded] = []
    active: list[DerState] = []
    for d in ders:
        e = exclusion(d, opt.interval_s)
        if e is None:
            active.append(d)
        else:
            excluded.append(e)
    if not active:
        reasons = "; ".join(f"{e.name}: {e.reason}" for e in excluded)
        raise DispatchInputError(f"No DER of feeder {net.name} can be dispatched ({reasons}).")
    by_name = {d.name: d for d in ders}
    fixed = {
        e.name: DerInjection(by_name[e.name].bus, by_name[e.name].phases, e.p_kw, e.q_kvar) for e in excluded
    }
    head = tuple(t for t in net.transformers if t.is_feeder_head)
    rows = constrained_nodes(net, head)
    return _Case(net, request, active, excluded, fixed, opt, rows, ders)


def _stage1(case: _Case, model: lindist3flow.LinDist3FlowModel, vlsm: Vlsm) -> _Answer:
    """Stage 1 with the Q target corrected first against the refreshed LinDist3Flow, then OpenDSS."""
    r = case.request
    stage = lp.build_stage1(vlsm, case.active, lp.monitored_rows(len(case.rows)))
    target, tol = r.q_kvar, Q_TOL * max(abs(r.q_kvar), Q_TOL_FLOOR_KVAR)
    for _ in range(LINEAR_ROUNDS):
        lp.set_targets(stage, vlsm, target, case.active, r.pv_curtailment_kw, r.dr_kw)
        x = _solve(case, stage)
        error = r.q_kvar - model.solve(case.state(x), iterations=3).substation_q_kvar
        if abs(error) < tol:
            break
        target += error
    for k in range(CHECK_ROUNDS):
        check = opendss_pf.solve(case.net, case.state(x))
        error = r.q_kvar - check.substation_q_kvar
        if k == CHECK_ROUNDS - 1 or abs(error) < tol or abs(lp.q_slack_kvar(stage)) > tol:
            break
        target += error
        lp.set_targets(stage, vlsm, target, case.active, r.pv_curtailment_kw, r.dr_kw)
        x = _solve(case, stage)
    return _answer(case, x, check, 1)


def _stage2(case: _Case, model: lindist3flow.LinDist3FlowModel, point: Vlsm) -> list[_Answer]:
    """Stage 2, linearized at each OpenDSS answer, limits tightened while OpenDSS still disagrees;
    every round's answer, checked by OpenDSS (the last one without violations, if any is)."""
    r, opt = case.request, case.opt
    nodes = np.zeros(0, dtype=np.int32)
    rounds: list[_Answer] = []
    for k in range(STAGE2_ROUNDS):
        margin = MARGIN_PU * (1 + 2 * k)
        stage = lp.build_stage2(point, case.active, (opt.v_min + margin, opt.v_max - margin))
        near = np.minimum(point.v - opt.v_min, opt.v_max - point.v) < BAND_PU
        nodes = np.union1d(nodes, np.flatnonzero(near)).astype(np.int32)
        lp.add_voltage_limits(stage, point, nodes)
        lp.set_targets(stage, point, r.q_kvar, case.active, r.pv_curtailment_kw, r.dr_kw)
        x = _solve_lazily(case, model, stage, point)
        nodes = stage.limit_nodes
        check = opendss_pf.solve(case.net, case.state(x))
        point = point.at(x, case.voltages(check), *_pq(check))
        rounds.append(_answer(case, x, check, 2))
        if not rounds[-1].found:
            break
    return rounds


def _rank(answer: _Answer, opt: DispatchOptions) -> tuple[int, float]:
    return len(answer.found), worst_pu(answer.found, opt)


def _solve_lazily(
    case: _Case, model: lindist3flow.LinDist3FlowModel, stage: lp.DispatchLp, point: Vlsm
) -> FArray:
    """Solve; add limit rows where the refreshed LinDist3Flow finds the answer outside them; again."""
    lo, hi = stage.v_bounds
    for _ in range(LAZY_ROUNDS):
        x = _solve(case, stage)
        v = case.voltages(model.solve(case.state(x), iterations=3))
        broken = (v < lo - LAZY_TOL) | (v > hi + LAZY_TOL)
        broken[stage.limit_nodes] = False
        if not broken.any():
            break
        lp.add_voltage_limits(stage, point, np.flatnonzero(broken).astype(np.int32))
    return x


def _solve(case: _Case, stage: lp.DispatchLp) -> FArray:
    return lp.within_ratings(lp.solve(stage), case.active)


def _result(case: _Case, first: _Answer, kept: _Answer, note: str, clock: dict[str, float]) -> DispatchResult:
    n, x = len(case.active), kept.x
    points = tuple(
        Setpoint(d.name, d.kind, float(x[j]) * S_BASE_KVA, float(x[n + j]) * S_BASE_KVA, d.p_max_kw)
        for j, d in enumerate(case.active)
    )
    pv = [s for s in points if s.kind == "pv"]
    curtailed = sum(s.p_avail_kw - s.p_limit_kw for s in pv)
    dr = sum(s.p_limit_kw for s in points if s.kind == "load")
    by_name = {d.name: d for d in case.ders}
    v1, v2 = case.voltages(first.check), case.voltages(kept.check)
    return DispatchResult(
        request=case.request,
        setpoints=points,
        q_achieved_kvar=kept.check.substation_q_kvar,
        p_substation_kw=kept.check.substation_p_kw,
        pv_curtailment_kw=curtailed,
        pv_available_kw=sum(s.p_avail_kw for s in pv),
        dr_kw=dr,
        violations_before=first.found,
        violations_after=kept.found,
        v_min_pu_before=float(v1.min()),
        v_max_pu_before=float(v1.max()),
        v_min_pu_after=float(v2.min()),
        v_max_pu_after=float(v2.max()),
        stage2_ran=bool(first.found),
        kept_stage=kept.stage,
        stage2_note=note,
        shortfalls=shortfalls(
            case.request,
            (kept.check.substation_q_kvar, curtailed, dr),
            (first.unmet, kept.unmet),
            kept.stage == 2,
            [(e, by_name[e.name]) for e in case.excluded],
            kept.found,
            case.opt,
        ),
        excluded=tuple(case.excluded),
        timings_ms=clock,
    )


def _pq(result: PowerFlowResult) -> tuple[float, float]:
    return result.substation_p_kw / S_BASE_KVA, result.substation_q_kvar / S_BASE_KVA


def _lap(started: float) -> float:
    return 1000 * (time.perf_counter() - started)
