"""Each capability-curve solution replayed in OpenDSS (seed 004 §V-E, against GridLAB-D there).

Per feasible point and direction, the solution's DER P/Q, feeder-head taps, `v_tm` and load scale go
to `opendss_pf.solve`, and the nonlinear result is compared with what the OPF believed:

* substation Q error, in % of the feeder's size: the apparent power the substation draws at the same
  load scale without PV (as `apps.dms.engine.studies` normalizes its P/Q errors: Q itself passes near
  zero along a curve, so a share of it says little); also in kvar and in % of the curve's Q span
  (largest q_max − smallest q_min);
* |V| error in % of the OpenDSS value, mean and max over the constrained node-phases;
* the largest ANSI violation in the nonlinear result (pu beyond 0.95 / 1.05; 0 if none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from apps.capability.engine.curve import DIRECTIONS, CapabilityCurve, Solution
from apps.capability.engine.der_opf import Direction
from apps.dms.engine import opendss_pf
from apps.dms.engine.network import Network, OperatingState
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

Q_ERR_TARGET_PCT = 1.0
V_ERR_TARGET_PCT = 0.5
VIOLATION_TARGET_PU = 0.002


@dataclass(frozen=True)
class PointCheck:
    headroom: float
    direction: Direction
    q_model_kvar: float
    q_opendss_kvar: float
    q_err_pct: float  # of the feeder's size
    q_err_span_pct: float  # of the curve's Q span
    v_err_mean_pct: float
    v_err_max_pct: float
    worst_node: str
    violation_pu: float  # largest ANSI violation in OpenDSS, 0 if none
    converged: bool  # OpenDSS converged

    @property
    def q_err_kvar(self) -> float:
        return abs(self.q_model_kvar - self.q_opendss_kvar)


@dataclass(frozen=True)
class CurveValidation:
    checks: tuple[PointCheck, ...]
    feeder_kva: float  # substation apparent power at the load scale without PV
    q_span_kvar: float

    def worst(self) -> dict[str, float]:
        """Mean and max of every error over all checks."""
        c = self.checks
        q = [x.q_err_pct for x in c]
        return {
            "q_err_mean_pct": float(np.mean(q)) if c else 0.0,
            "q_err_max_pct": max(q, default=0.0),
            "q_err_max_kvar": max((x.q_err_kvar for x in c), default=0.0),
            "q_err_span_max_pct": max((x.q_err_span_pct for x in c), default=0.0),
            "v_err_mean_pct": float(np.mean([x.v_err_mean_pct for x in c])) if c else 0.0,
            "v_err_max_pct": max((x.v_err_max_pct for x in c), default=0.0),
            "violation_max_pu": max((x.violation_pu for x in c), default=0.0),
        }

    def meets_targets(self) -> bool:
        """Q error ≤ 1 % of the feeder's size, |V| error ≤ 0.5 %, no violation beyond 0.002 pu."""
        w = self.worst()
        return (
            all(x.converged for x in self.checks)
            and w["q_err_max_pct"] <= Q_ERR_TARGET_PCT
            and w["v_err_max_pct"] <= V_ERR_TARGET_PCT
            and w["violation_max_pu"] <= VIOLATION_TARGET_PU
        )


def validate_curve(net: Network, curve: CapabilityCurve) -> CurveValidation:
    """Replay both solutions of every feasible point of `curve` (computed on `net`) in OpenDSS."""
    no_pv = opendss_pf.solve(net, OperatingState(load_scale=curve.load_scale, source_pu=curve.v_tm))
    feeder_kva = math.hypot(no_pv.substation_p_kw, no_pv.substation_q_kvar)
    q_span = _q_span(curve)
    checks = [
        check_solution(net, point.headroom, direction, solution, feeder_kva, q_span)
        for point in curve.points
        for direction, solution in zip(DIRECTIONS, (point.min, point.max), strict=True)
        if solution is not None
    ]
    return CurveValidation(tuple(checks), feeder_kva, q_span)


def check_solution(
    net: Network, headroom: float, direction: Direction, solution: Solution, feeder_kva: float, q_span: float
) -> PointCheck:
    """One solution in OpenDSS against the OPF's own figures."""
    result = opendss_pf.solve(net, solution.state)
    keys = list(solution.voltages_pu)
    model = np.array([solution.voltages_pu[k] for k in keys])
    dss = np.array([result.voltages_pu[k] for k in keys])
    err = 100.0 * np.abs(model - dss) / dss
    worst = int(np.argmax(err))
    violation = float(max(np.max(V_MIN_PU - dss, initial=0.0), np.max(dss - V_MAX_PU, initial=0.0)))
    q_err = abs(solution.q_kvar - result.substation_q_kvar)
    return PointCheck(
        headroom=headroom,
        direction=direction,
        q_model_kvar=solution.q_kvar,
        q_opendss_kvar=result.substation_q_kvar,
        q_err_pct=100.0 * q_err / feeder_kva,
        q_err_span_pct=100.0 * q_err / q_span if q_span > 0 else 0.0,
        v_err_mean_pct=float(np.mean(err)),
        v_err_max_pct=float(err[worst]),
        worst_node=keys[worst],
        violation_pu=violation,
        converged=result.converged,
    )


def _q_span(curve: CapabilityCurve) -> float:
    lows = [p.q_min_kvar for p in curve.points if p.q_min_kvar is not None]
    highs = [p.q_max_kvar for p in curve.points if p.q_max_kvar is not None]
    return max(highs) - min(lows) if lows and highs else 0.0
