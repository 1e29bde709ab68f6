"""The feeder as the DER-OPF sees it: LinDist3Flow (seed 004 §IV-A) calibrated once with OpenDSS, a
fixed first-order response (the Jacobian) of the node voltages and the substation Q to the OPF's
variables, and the refreshed power flow that evaluates any DER/tap setting to < 0.05 % of OpenDSS.

The OPF's variables form one vector `x = [h_1..h_n, u_1..u_n, r]`: per-DER headroom h_j (p_j =
S_j·(1 − h_j)), per-DER var u_j = q_j / S̄_j (injected, per unit of the inverter rating) and the
continuous feeder-head tap r (v0 = r·v_tm). Per-unit inside: voltages in pu, powers in pu of
`S_BASE_KVA`; kW/kvar only on `PowerFlowResult`s and `OperatingState`s.

The DER columns of the Jacobian are LinDist3Flow's voltage–load sensitivities at the calibration
point (unity power factor, zero headroom). The tap's effect on substation Q is not: it changes size
and sign with the operating point (shunt Q grows with |V|², losses fall with it, OpenDSS's loads turn
constant-impedance below 0.95 pu), so `tap_model` takes it afresh, by finite differences of the
refreshed power flow, wherever the SLP re-linearizes.

The tap, continuous in the OPF, would force a new LinDist3Flow factorization at every value. It is
instead factored once with every feeder-head tap at `r0` and a tap r is the source scaled by r/r0:
everything behind the feeder-head transformer sees the same voltage either way, except for the drop
across the source impedance: a tap r draws r/r0 times the current through it, so the real drop is
r/r0 times the surrogate's, and the downstream voltage is k·v_tm − k²·d (k = r/r0, d the source drop
at r0) where the surrogate gives k·v_tm − d. That is < 2e-5 pu on the IEEE 13 and 123 feeders over
r ∈ [0.95, 1.08], but EPRI ckt7's source drops 3.4 % at half load, and at r = 1.066 every node was
0.5 % high. Where the drop matters (`SURROGATE_TOL_PU` over the tap range) the surrogate's source is
lowered by (k² − 1)·d, d taken from a first solve. Solutions are reported with the real taps, and
`validation.py` checks them in OpenDSS with those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from apps.capability.engine.pv import PVUnit
from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.limited_nodes import constrained_nodes
from apps.dms.engine.network import DerInjection, Network, OperatingState, PowerFlowResult, Transformer
from apps.dms.engine.studies import REFRESH_ITERATIONS

FArray = NDArray[np.float64]
S_BASE_KVA = 1000.0  # power base of the OPF
TAP_STEP_FD = 0.01  # central differences in the tap
SURROGATE_TOL_PU = 2e-5  # the surrogate tap's error left uncorrected (module doc)


@dataclass(frozen=True)
class Jacobian:
    """d(constrained |V|, pu) and d(substation Q drawn, pu) per unit change of each entry of x."""

    dv: FArray  # (rows, 2n + 1)
    dq: FArray  # (2n + 1,), the tap's entry 0: see `TapModel`


@dataclass(frozen=True)
class TapModel:
    """Substation Q's change with the tap around r_k (pu): φ(r) = slope·(r − r_k) + ½·curvature·(r − r_k)²."""

    r: float
    slope: float
    curvature: float

    def value(self, r: float) -> float:
        d = r - self.r
        return self.slope * d + 0.5 * self.curvature * d * d


@dataclass(frozen=True)
class Evaluation:
    """The refreshed power flow at setting `x`: constrained voltages (pu, `LinearFeeder.rows` order)
    and what the substation draws (kW / kvar, + = import)."""

    x: FArray
    v: FArray
    p_kw: float
    q_kvar: float


class LinearFeeder:
    """`net` with PV `units` at load scale `load_scale` and transmission-side voltage `v_tm` (pu)."""

    def __init__(self, net: Network, units: Sequence[PVUnit], *, v_tm: float, load_scale: float) -> None:
        self.net, self.units, self.v_tm, self.load_scale = net, tuple(units), v_tm, load_scale
        self.n = len(self.units)
        self.s_avail = np.array([u.p_avail_kw for u in self.units]) / S_BASE_KVA  # S_j
        self.s_rated = np.array([u.s_rated_kva for u in self.units]) / S_BASE_KVA  # S̄_j
        self.u_range = np.array([u.u_range for u in self.units], dtype=float).reshape(-1, 2)  # q_j / S̄_j
        self.head = tuple(t for t in net.transformers if t.is_feeder_head)
        self.tap_range = head_tap_range(self.head)
        self.r0 = min(max(1.0, self.tap_range[0]), self.tap_range[1])  # the factored tap
        self.rows = constrained_nodes(net, self.head)
        base = opendss_pf.solve(net, self._unity_state())  # unity PF, zero headroom, solved taps
        self.model = lindist3flow.build(net, base if base.converged else None)
        if not base.converged:  # calibrate-free model; its own solution of the same state
            with np.errstate(all="ignore"):  # no solution shows as NaN, which the next line explains
                base = self.model.solve(self._unity_state(), iterations=REFRESH_ITERATIONS)
            _require_solution(net, base, self.units)
        self.q_base_kvar = base.substation_q_kvar  # unity PF, zero headroom, the network's taps
        k_span = max(abs(r / self.r0 - 1) for r in self.tap_range) * 2.2  # ≥ |k² − 1| over the range
        self.correct_source_drop = k_span * self._source_drop(base, self.v_tm) > SURROGATE_TOL_PU
        self.jacobian = self._jacobian()

    def start(self, headroom: float) -> FArray:
        """Every DER at `headroom` and unity power factor, the tap at the feeder-head's mean solved tap."""
        taps = [t for tr in self.head for t in tr.tap] or [self.r0]
        r = min(max(float(np.mean(taps)), self.tap_range[0]), self.tap_range[1])
        return np.concatenate([np.full(self.n, headroom), np.zeros(self.n), [r]])

    def split(self, x: FArray) -> tuple[FArray, FArray, float]:
        """(h, u, r) of a setting vector."""
        return x[: self.n], x[self.n : 2 * self.n], float(x[-1])

    def injections(self, x: FArray) -> tuple[FArray, FArray]:
        """DER (p, q) injected in pu: p_j = S_j (1 − h_j) (seed 004 eq. 12), q_j = u_j S̄_j."""
        h, u, _ = self.split(x)
        return self.s_avail * (1.0 - h), self.s_rated * u

    def evaluate(self, x: FArray) -> Evaluation:
        """The refreshed LinDist3Flow solution at setting `x` (the surrogate tap, see module doc)."""
        result = self.model.solve(self._surrogate_state(x), iterations=REFRESH_ITERATIONS)
        if self.correct_source_drop:
            drop = self._source_drop(result, self.v_tm * self.split(x)[2] / self.r0)
            result = self.model.solve(self._surrogate_state(x, drop), iterations=REFRESH_ITERATIONS)
        v = np.array([result.voltages_pu[k] for k in self.rows])
        return Evaluation(x.copy(), v, result.substation_p_kw, result.substation_q_kvar)

    def state(self, x: FArray) -> OperatingState:
        """The operating state of setting `x` with the real feeder-head taps: what OpenDSS replays."""
        _, _, r = self.split(x)
        taps = {tr.name: (r,) * len(tr.tap) for tr in self.head}
        return OperatingState(self.load_scale, self._ders(x), taps, self.v_tm)

    def taps(self, x: FArray) -> dict[str, float]:
        """Feeder-head tap ratio by OpenDSS transformer name."""
        return {tr.name: self.split(x)[2] for tr in self.head}

    def _ders(self, x: FArray) -> dict[str, DerInjection]:
        p, q = self.injections(x)
        return {
            u.name: DerInjection(u.bus, u.phases, float(pj) * S_BASE_KVA, float(qj) * S_BASE_KVA)
            for u, pj, qj in zip(self.units, p, q, strict=True)
        }

    def _surrogate_state(self, x: FArray, source_drop_pu: float = 0.0) -> OperatingState:
        """Every feeder-head tap at r0 and the source scaled by k = r/r0, lowered by (k² − 1) times
        the source drop at r0 (module doc)."""
        k = self.split(x)[2] / self.r0
        taps = {tr.name: (self.r0,) * len(tr.tap) for tr in self.head}
        return OperatingState(
            self.load_scale, self._ders(x), taps, self.v_tm * k - (k * k - 1) * source_drop_pu
        )

    def _source_drop(self, result: PowerFlowResult, source_pu: float) -> float:
        """The source's |V| less the mean |V| of the source bus in `result`: the drop across the source
        impedance (pu)."""
        at_bus = [v for k, v in result.voltages_pu.items() if k.split(".")[0] == self.net.source_bus]
        return source_pu - sum(at_bus) / len(at_bus) if at_bus else 0.0

    def _unity_state(self) -> OperatingState:
        ders = {u.name: DerInjection(u.bus, u.phases, u.p_avail_kw, 0.0) for u in self.units}
        return OperatingState(self.load_scale, ders, {}, self.v_tm)

    def _jacobian(self) -> Jacobian:
        """LinDist3Flow's voltage–load sensitivities for the DER columns (seed 004 eq. 21) and a
        central difference of the refreshed power flow for the tap column."""
        x0 = self.start(0.0)
        x0[-1] = self.r0
        columns = sorted({f"{u.bus}.{p}" for u in self.units for p in u.phases})
        sens = self.model.sensitivities(self._surrogate_state(x0), columns)
        col = {k: i for i, k in enumerate(sens.keys)}
        row = {k: i for i, k in enumerate(sens.rows)}
        rows = [row[k] for k in self.rows]
        share = _phase_share(self.units, col)  # (columns, n): an injection is shared over phases
        kw = S_BASE_KVA  # sensitivities are per kW / kvar; x moves pu
        dv_dp, dv_dq = sens.dv_dp[rows] @ share * kw, sens.dv_dq[rows] @ share * kw
        dq_dp, dq_dq = sens.dq_sub_dp @ share, sens.dq_sub_dq @ share  # kvar per kW → pu per pu
        dv_dr = self._tap_column(x0)
        dv = np.hstack([-dv_dp * self.s_avail, dv_dq * self.s_rated, dv_dr[:, None]])
        dq = np.concatenate([-dq_dp * self.s_avail, dq_dq * self.s_rated, [0.0]])  # tap: `tap_model`
        return Jacobian(np.ascontiguousarray(dv), dq)

    def tap_model(self, point: Evaluation, curvature: float | None = None) -> TapModel:
        """Q's response to the tap around `point` by central differences of the refreshed power flow,
        or, given the `curvature`, by one forward difference; a negative curvature counts as 0 (the
        LP's piecewise-linear tap term needs a convex one)."""
        up = point.x.copy()
        up[-1] += TAP_STEP_FD
        q_up, q = self.evaluate(up).q_kvar / S_BASE_KVA, point.q_kvar / S_BASE_KVA
        if curvature is None:
            down = point.x.copy()
            down[-1] -= TAP_STEP_FD
            q_down = self.evaluate(down).q_kvar / S_BASE_KVA
            slope = (q_up - q_down) / (2 * TAP_STEP_FD)
            curvature = max((q_up - 2 * q + q_down) / TAP_STEP_FD**2, 0.0)
        else:
            slope = (q_up - q) / TAP_STEP_FD - 0.5 * curvature * TAP_STEP_FD
        return TapModel(float(point.x[-1]), slope, curvature)

    def _tap_column(self, x0: FArray) -> FArray:
        up, down = x0.copy(), x0.copy()
        up[-1] += TAP_STEP_FD
        down[-1] -= TAP_STEP_FD
        return (self.evaluate(up).v - self.evaluate(down).v) / (2 * TAP_STEP_FD)


def _require_solution(net: Network, result: PowerFlowResult, units: Sequence[PVUnit]) -> None:
    """ValueError unless `result` is a power flow solution: with DERs far beyond what the feeder can
    carry there is none, and an OPF over NaN voltages ran for many minutes (EPRI ckt7 with 181 units
    of 380 kW on 25 kVA service transformers)."""
    v = np.array(list(result.voltages_pu.values()))
    if v.size and np.all(np.isfinite(v)) and float(np.min(v)) > 0.5 and float(np.max(v)) < 1.5:
        return
    largest = max(units, key=lambda u: u.p_avail_kw, default=None)
    which = (
        f"; the largest is {largest.name}, {largest.p_avail_kw:.0f} kW at bus {largest.bus}"
        if largest
        else ""
    )
    raise ValueError(
        f"The power flow of feeder {net.name} has no solution with its {len(units)} PV units at full output"
        f" and unity power factor{which}. Check the DERs' ratings against the feeder (a service transformer"
        " cannot carry more than a few times its kVA)."
    )


def head_tap_range(head: Sequence[Transformer]) -> tuple[float, float]:
    """(r_min, r_max) every feeder-head transformer can take (one continuous tap in the OPF)."""
    if not head:
        return 1.0, 1.0
    return max(t.tap_min for t in head), min(t.tap_max for t in head)


def _phase_share(units: Sequence[PVUnit], col: dict[str, int]) -> FArray:
    share = np.zeros((len(col), len(units)))
    for j, u in enumerate(units):
        for p in u.phases:
            share[col[f"{u.bus}.{p}"], j] = 1.0 / len(u.phases)
    return share
