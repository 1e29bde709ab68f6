"""Unbalanced three-phase LinDist3Flow (Arnold et al. 2016; Gan & Low 2014) on a radial `Network`.

Variables: Y = |V|² per node-phase and s = P + jQ leaving each branch phase at its receiving end,
per-unit inside (1000 kVA per phase; bus line-to-neutral bases). Per branch i → j:

    Y_j = K Y_i − 2 Re(W s_j) − h                   (seed 004 eq. 17, receiving-end form)
    s_j = d_j(Y) + Σ_children (C s_k + loss_k)      (seed 004 eq. 18–20)

W = Γ ∘ conj(Z) (R̃ = Re W, X̃ = −Im W), Γ_φψ = V_φ/V_ψ at the linearization point: α^(ψ−φ), phases
120° apart (Arnold et al.), without a base case; the base-case phasors with one. Lines: K = C = I.
Transformers: an ideal ratio per winding (tap included) then the leakage impedance on the secondary
(scaled by tap², as OpenDSS rates it on the tapped voltage); V' = T V from the winding connections
(delta windings span two phases, OpenDSS's 30° lag/lead), |V'|² linearized in Y at the linearization
point (exact there); C carries secondary phase powers through the winding powers to the primary phases
(delta windings split at the linearization phasors). A delta secondary fed from a grounded wye is a
grounding bank: zero-sequence current circulates in the delta (in the base-case loss terms; the refresh
below recomputes it).

Shunts: loads follow their OpenDSS law P ∝ |V|^n (n = 0 constant PQ, 1 constant |I|, 2 constant Z;
constant Z outside [vminpu, vmaxpu]) linearized in Y at the linearization point, so Z and I loads are
exact there and first-order around it. Delta loads act on their line-to-line |V|² and split to phases
at the linearization phasors. Capacitors and line charging are constant admittances (negative reactive
loads ∝ |V|²); generators and DER injections are constant P/Q.

Calibrated from a nonlinear base case (an OpenDSS `PowerFlowResult` with branch flows):
* loss terms: per branch phase, base sending-end power − C × receiving-end power (line charging is a
  shunt, not a loss term), injected at the sending bus (seed 004 §IV-A). With `linearize_at_base` they
  also get their first-order change with the branch flow (marginal losses, d(Z|I|²)/ds), so the
  voltage–load sensitivities include loss changes; without it they are constants, as in the paper;
* second-order drop terms h (`second_order`, on by default): the base-case residual of the drop
  equation — |Z I|² plus what the phase-ratio assumption misses — plus its first-order change with
  the flow. With them the model reproduces the base case exactly; the error grows with the distance
  from it (see tests/engine/test_lindist3flow_sweep.py for measured figures).

`solve(state, iterations=n)` refreshes loss and second-order terms, load laws and phase angles from
the model's own solution (a backward–forward sweep over the same factorizations); its fixed point is
the nonlinear power flow of the same network (3 iterations: < 0.05 % on the IEEE feeders' sweep).
`refreshed(result)` re-linearizes at a new nonlinear solution. `sensitivities()` gives d|V|/dP and
d|V|/dQ in pu per kW / kvar injected (lindist_sensitivity.py, with vlsm.py's block elimination along
the feeder tree). Nodes behind an ungrounded delta secondary follow the primary's zero sequence, which
Y alone cannot see: the linear model is least accurate there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike
from scipy.sparse.linalg import splu

from apps.dms.engine import vlsm
from apps.dms.engine.lindist_elements import (
    _ALPHA,
    S_BASE_KVA,
    CArray,
    FArray,
    Sparse,
    _blocks,
    _Branch,
    _branches,
    _charging_tangent,
    _marginal,
    _nodes,
    _phasors,
    _shunt_power,
    _split,
    _tap,
)
from apps.dms.engine.lindist_sensitivity import Sensitivities, unit_responses
from apps.dms.engine.lindist_shunts import _shunts, _Windings
from apps.dms.engine.network import (
    Network,
    OperatingState,
    PowerFlowResult,
    check_ders,
    checked_taps,
)

__all__ = ["LinDist3FlowModel", "Sensitivities", "build"]


@dataclass
class _Ratios:
    """What the taps set: K and T of every branch, the sweep's (I − T) factorization, W and Z with the
    tapped leakage impedances, the current map M, and each grounding bank's Thevenin response."""

    k_mat: Sparse
    t_mat: Sparse
    t_lu: Any
    w: Sparse
    zbd: Sparse
    m_mat: Sparse
    thevenin: dict[str, CArray]  # phasor change per unit current drawn at the bank's primary


@dataclass
class _Factors:
    lu: Any
    r: _Ratios
    a: sp.csc_matrix
    tree: vlsm.TreeFactor | None = None  # the bus-block factorization, built on first use
    tree_tried: bool = False


def build(
    net: Network,
    base: PowerFlowResult | None = None,
    *,
    linearize_at_base: bool = True,
    second_order: bool = True,
) -> LinDist3FlowModel:
    """The linear model of `net`, calibrated at `base` (an OpenDSS result at a known state) if given.
    `linearize_at_base=False, second_order=False` is the paper's model: 120° phase ratios, constant
    loss terms."""
    return LinDist3FlowModel(net, base, linearize_at_base=linearize_at_base, second_order=second_order)


class LinDist3FlowModel:
    def __init__(
        self, net: Network, base: PowerFlowResult | None, *, linearize_at_base: bool, second_order: bool
    ) -> None:
        self.net, self.base = net, base
        self._options = {"linearize_at_base": linearize_at_base, "second_order": second_order}
        self.keys = tuple(f"{b}.{p}" for b in net.topology().order for p in net.bus[b].phases)
        self._index = {k: i for i, k in enumerate(self.keys)}
        n = self._n = len(self.keys)
        self._branches = _branches(net, self._index)
        self._src = np.array(self._branches[0].down)
        state0 = base.state if base is not None and base.state is not None else OperatingState()
        self._v = self._nominal(state0)
        if base is not None and linearize_at_base:
            self._v[:n] = _phasors(base, self.keys)
        self._y = np.abs(self._v) ** 2
        v, rest = self._v, self._branches[1:]
        self._c = [np.eye(3)] + [
            _split(b.d1, v[b.up]) @ np.linalg.pinv(_split(b.d2, v[b.down])) for b in rest
        ]
        self._cmat = _blocks([(b.up, b.down, c) for b, c in zip(rest, self._c[1:], strict=True)], n, n)
        self._grounding = [b for b in rest if b.z_loop]
        self._gamma = [v[b.down, None] / v[None, b.down] for b in self._branches]  # V_φ / V_ψ
        ends = [(e, e, b.y_half) for b in self._branches for e in (b.up, b.down) if b.y_half.any()]
        self._ysh = _blocks(ends, n + 3, n + 3)
        self._loads, self._caps, self._gen = _shunts(net, self._index, v)
        self._a_load, self._g_load = self._loads.tangent(self._y)
        self._g_caps = self._caps.tangent(self._y)[1]
        self._g_line = _charging_tangent(self._ysh, v)
        self._loss, self._loss_resid = np.zeros(n, complex), np.zeros(n, complex)
        self._h: FArray = np.zeros(n)
        self._e, self._s0 = np.zeros(n, complex), np.zeros(n, complex)
        self._jp = self._jq = sp.csr_matrix((n, n), dtype=complex)  # marginal losses per unit flow
        self._hp = self._hq = sp.csr_matrix((n, n))  # marginal second-order drop per unit flow
        self._cache: dict[object, _Factors] = {}
        self._ig0 = np.zeros(n, complex)  # grounding-bank currents in the loss terms
        self._kt: dict[object, _Ratios] = {}
        self._memo: dict[tuple[int, tuple[float, ...]], tuple[FArray, CArray, CArray]] = {}
        if base is not None:
            self._calibrate(base, state0, second_order)

    def refreshed(self, result: PowerFlowResult) -> LinDist3FlowModel:
        """The same model re-linearized and re-calibrated at a new nonlinear solution."""
        return LinDist3FlowModel(self.net, result, **self._options)

    def _nominal(self, state: OperatingState) -> CArray:
        """Balanced source phasors carried down through every ratio (the flat-start linearization)."""
        v = np.zeros(self._n + 3, complex)
        v[self._n :] = self._source_phasors(state)
        for b in self._branches:  # parents come first
            v[b.down] = b.t(_tap(state, b)) @ v[b.up]
        return v

    def _source_phasors(self, state: OperatingState) -> CArray:
        s0 = state.source_pu if state.source_pu is not None else self.net.source_pu
        return np.asarray(s0 * np.exp(1j * math.radians(self.net.source_angle_deg)) * _ALPHA ** np.arange(3))

    def _calibrate(self, base: PowerFlowResult, state: OperatingState, second_order: bool) -> None:
        """Loss terms, drop residuals and phasor mismatches with which the model reproduces `base`."""
        n = self._n
        v = np.concatenate([_phasors(base, self.keys), self._source_phasors(state)])
        s, sent = np.zeros(n, complex), np.zeros(n, complex)
        for b in self._branches:
            s_from, s_to = self._branch_powers(base, b)
            s[b.down] = s_to + _shunt_power(b.y_half, v[b.down])  # into the series part
            if b.name != "vsource.source":
                sent[b.up] += s_from - _shunt_power(b.y_half, v[b.up])
        if self._options["linearize_at_base"]:
            self._s0 = s
            z = [b.zt(_tap(state, b)) for b in self._branches]
            self._jp, self._jq, self._hp, self._hq = _marginal(self._branches, self._c, z, v, s, second_order)
        f = self._factor(state)
        y, i = np.abs(v) ** 2, np.conj(s / v[:n])
        self._loss = sent - self._cmat @ s
        self._ig0 = self._ground_currents(state, v)
        self._loss_resid = sent - v[:n] * np.conj(f.r.m_mat @ i + self._ig0)
        self._e = v[:n] - (f.r.t_mat @ v - f.r.zbd @ i)
        if second_order:
            self._h = np.asarray(f.r.k_mat @ y - 2 * np.real(f.r.w @ s) - y[:n])

    def _branch_powers(self, base: PowerFlowResult, b: _Branch) -> tuple[CArray, CArray]:
        """Power into `b` at each up node and out at each down node (pu) in `base`; an open bank's
        from its units' flows, node by node."""
        if not b.parts:
            flow = base.branch_flows[b.name]
            s_from = np.array(flow.p_from_kw, complex) + 1j * np.array(flow.q_from_kvar)
            s_to = np.array(flow.p_to_kw, complex) + 1j * np.array(flow.q_to_kvar)
            return s_from / S_BASE_KVA, s_to / S_BASE_KVA
        s_from, s_to = np.zeros(len(b.up), complex), np.zeros(len(b.down), complex)
        units = {t.name: t for t in self.net.transformers}
        for part in b.parts:
            t, flow = units[part], base.branch_flows[f"transformer.{part}"]
            for p, pw, qv in zip(t.phases, flow.p_from_kw, flow.q_from_kvar, strict=True):
                s_from[b.up.index(self._index[f"{t.bus_from}.{p}"])] += complex(pw, qv)
            for p, pw, qv in zip(t.secondary_phases, flow.p_to_kw, flow.q_to_kvar, strict=True):
                s_to[b.down.index(self._index[f"{t.bus_to}.{p}"])] += complex(pw, qv)
        return s_from / S_BASE_KVA, s_to / S_BASE_KVA

    # --- solving --------------------------------------------------------------------------------------

    def _factor(self, state: OperatingState) -> _Factors:
        """Factorizations at the state's load scale and taps; the last operating point is cached."""
        taps = tuple(sorted(checked_taps(self.net, state).items()))
        key = (state.load_scale, taps)
        if key not in self._cache:
            n = self._n
            r = self._ratios(state, taps)
            k_mat, g = r.k_mat, (state.load_scale * self._g_load + self._g_caps + self._g_line)[:n, :n]
            eye = sp.identity(n, format="csr")
            w, c, jp, jq = r.w, self._cmat, self._jp, self._jq
            a = sp.bmat(
                [
                    [eye - k_mat[:, :n], 2 * w.real + self._hp, -2 * w.imag + self._hq],
                    [-g.real, eye - c.real - jp.real, c.imag - jq.real],
                    [-g.imag, -c.imag - jp.imag, eye - c.real - jq.imag],
                ],
                format="csc",
            )
            self._cache = {key: _Factors(splu(a), r, a)}
        return self._cache[key]

    def _ratios(self, state: OperatingState, taps: object) -> _Ratios:
        if taps not in self._kt:
            n, branches = self._n, self._branches
            blocks = [self._blocks_at(i, _tap(state, b)) for i, b in enumerate(branches)]
            k_mat = _blocks(
                [(b.down, b.up, k) for b, (k, _, _) in zip(branches, blocks, strict=True)], n, n + 3
            )
            t_mat = _blocks(
                [(b.down, b.up, t) for b, (_, t, _) in zip(branches, blocks, strict=True)], n, n + 3
            )
            t_lu = splu(sp.csc_matrix(sp.identity(n) - t_mat[:, :n]))
            w = _blocks([(b.down, b.down, w) for b, (_, _, w) in zip(branches, blocks, strict=True)], n, n)
            zbd = _blocks([(b.down, b.down, b.zt(_tap(state, b))) for b in branches], n, n)
            m_mat = _blocks([(b.up, b.down, b.m(_tap(state, b))) for b in branches[1:]], n, n)
            r = _Ratios(k_mat.real, t_mat, t_lu, w, zbd, m_mat, self._thevenin(t_lu, zbd, m_mat))
            self._kt = {taps: r}
        return self._kt[taps]

    def _blocks_at(self, i: int, tap: tuple[float, ...]) -> tuple[FArray, CArray, CArray]:
        """K, T and W of branch i at `tap`, remembered: most branches never change."""
        key = (i, tap)
        if key not in self._memo:
            b = self._branches[i]
            k, t = b.k(tap, self._v[b.up])
            self._memo[key] = (k, t, self._gamma[i] * np.conj(b.zt(tap)))
        return self._memo[key]

    def _thevenin(self, t_lu: Any, zbd: Sparse, m_mat: Sparse) -> dict[str, CArray]:
        """Each grounding bank's phasor response to current drawn at its primary, so the sweep can
        treat the bank's circulating current implicitly."""
        n, out = self._n, {}
        if self._grounding:
            m_lu = splu(sp.csc_matrix(sp.identity(n, dtype=complex) - m_mat))
            for b in self._grounding:
                unit = np.zeros((n, 3), complex)
                unit[b.up, np.arange(3)] = 1.0
                out[b.name] = -np.asarray(t_lu.solve(np.asarray(zbd @ m_lu.solve(unit))))
        return out

    def solve(
        self,
        state: OperatingState | None = None,
        *,
        iterations: int = 0,
        start: PowerFlowResult | None = None,
        hold_sides: bool = False,
    ) -> PowerFlowResult:
        """Voltages and substation power at `state`. With `iterations` > 0, loss and second-order terms,
        load laws and phase angles are refreshed from the model's own solution until |ΔY| < 1e-10
        (`converged` says whether that happened). `start`: begin the refreshes at this nonlinear
        solution (with branch flows) instead of the linear one — where the power flow has two
        solutions (a load on its vminpu/vmaxpu step), whether the other engine's is one of this model's.
        `hold_sides`: with `start`, keep every load on the branch of its law it has there."""
        state = state or OperatingState()
        f, n = self._factor(state), self._n
        v_root = self._source_phasors(state)
        y_root = f.r.k_mat[:, n:] @ np.abs(v_root) ** 2
        const = self._gen[:n] + self._der_demand(state)
        demand, h, loss, s = state.load_scale * self._a_load[:n] + const, self._h, self._loss, self._s0
        x = self._solve_rhs(f.lu, y_root - h + self._hsum(s), demand + loss - self._jsum(s))
        v, converged = np.sqrt(np.maximum(x[:n], 0)) * np.exp(1j * np.angle(self._v[:n])), iterations == 0
        ig, windings = self._ig0, self._loads
        if start is not None:
            x, v, ig = self._warm(state, start)
            windings = windings.held(np.concatenate([v, v_root])) if hold_sides else windings
        for _ in range(iterations):
            h, loads, loss, v, ig = self._refresh(f, state, x, v, v_root, ig, windings)
            demand, s = loads + const, self._unpack(x)[1]
            x_new = self._solve_rhs(f.lu, y_root - h + self._hsum(s), demand + loss - self._jsum(s))
            step = float(np.max(np.abs(x_new[:n] - x[:n])))
            x = x_new
            if step < 1e-10:
                converged = True
                break
        return self._result(state, x, demand, loss - self._jsum(s), converged)

    def _warm(self, state: OperatingState, start: PowerFlowResult) -> tuple[FArray, CArray, CArray]:
        """The model's variables at a nonlinear solution: Y, branch powers, phasors, bank currents."""
        n = self._n
        v = np.concatenate([_phasors(start, self.keys), self._source_phasors(state)])
        s = np.zeros(n, complex)
        for b in self._branches:
            s[b.down] = self._branch_powers(start, b)[1] + _shunt_power(b.y_half, v[b.down])
        return np.concatenate([np.abs(v[:n]) ** 2, s.real, s.imag]), v[:n], self._ground_currents(state, v)

    def _refresh(
        self,
        f: _Factors,
        state: OperatingState,
        x: FArray,
        v: CArray,
        v_root: CArray,
        ig: CArray,
        windings: _Windings,
    ) -> tuple[FArray, CArray, CArray, CArray, CArray]:
        """Drop residuals, demand, losses and phasors from a forward sweep of the solved flows."""
        n = self._n
        s = self._unpack(x)[1]
        i = np.conj(s / v)
        v = np.asarray(f.r.t_lu.solve(f.r.t_mat[:, n:] @ v_root - f.r.zbd @ i + self._e))
        ig = ig.copy()
        for b in self._grounding:  # Newton step on the bank's current: explicit updates diverge
            y, z_th = b.y_ground(_tap(state, b)), f.r.thevenin[b.name]
            step = np.linalg.solve(np.eye(3) - y @ z_th[b.up], y @ v[b.up] - ig[b.up])
            v, ig[b.up] = v + z_th @ step, ig[b.up] + step
        vf = np.concatenate([v, v_root])
        yf = np.abs(vf) ** 2
        h = np.asarray(f.r.k_mat @ yf - 2 * np.real(f.r.w @ s) - yf[:n])
        loads = (
            state.load_scale * (windings.at(vf) - self._g_load @ yf) + self._caps.at(vf) - self._g_caps @ yf
        )
        charging = vf * np.conj(self._ysh @ vf) - self._g_line @ yf
        # Both ends from the new phasors and one current: their difference is the branch loss itself
        # (Z|I|² for a line), free of the old/new phasor mismatch that made the sweep unstable.
        sent = v * np.conj(f.r.m_mat @ i + ig)  # into child branches, grounding banks included
        loss = sent - self._cmat @ (v * np.conj(i)) + self._loss_resid + charging[:n]
        return h, loads[:n], loss, v, ig

    def sensitivities(
        self,
        state: OperatingState | None = None,
        columns: Sequence[str] | None = None,
        *,
        method: str = "auto",
        dtype: DTypeLike = np.float64,
    ) -> Sensitivities:
        """d|V|/dP, d|V|/dQ of injections at `columns` (default: every node-phase) around `state`.
        `method="tree"` eliminates bus blocks along the feeder (vlsm.py; SuperLU if the system is not
        tree-shaped), "superlu" solves unit right-hand sides with SuperLU, "auto" takes SuperLU for
        small problems only (n × columns < 8,000, where its per-column cost is below the tree's fixed
        one); all give the same numbers to rounding. `dtype=np.float32` halves dv_dp and dv_dq."""
        return unit_responses(self, state or OperatingState(), columns, method, dtype)

    def _der_demand(self, state: OperatingState) -> CArray:
        """DER injections as negative demand, shared equally over their phases."""
        check_ders(self.net, state)
        out = np.zeros(self._n, complex)
        for der in state.ders.values():
            nodes = _nodes(self._index, der.bus, der.phases)
            out[nodes] -= complex(der.p_kw, der.q_kvar) / len(nodes) / S_BASE_KVA
        return out

    def _ground_currents(self, state: OperatingState, v: CArray) -> CArray:
        out = np.zeros(self._n, complex)
        for b in self._grounding:
            out[b.up] += b.y_ground(_tap(state, b)) @ v[b.up]
        return out

    def _jsum(self, s: CArray) -> CArray:
        return np.asarray(self._jp @ s.real + self._jq @ s.imag)

    def _hsum(self, s: CArray) -> FArray:
        return np.asarray(self._hp @ s.real + self._hq @ s.imag)

    def _solve_rhs(self, lu: Any, r_v: FArray, r_f: CArray) -> FArray:
        return np.asarray(lu.solve(np.concatenate([r_v, r_f.real, r_f.imag])))

    def _unpack(self, x: FArray) -> tuple[FArray, CArray]:
        n = self._n
        return np.concatenate([x[:n], self._y[n:]]), x[n : 2 * n] + 1j * x[2 * n :]

    def _result(
        self, state: OperatingState, x: FArray, demand: CArray, loss: CArray, converged: bool
    ) -> PowerFlowResult:
        """Totals from the solved equations: demand at the solved voltages; losses = loss terms + line
        charging + what the branch maps add, so substation = demand + losses holds if KCL does."""
        n = self._n
        y, s = self._unpack(x)
        loss = loss + self._jsum(s)
        demand_total = (demand + ((state.load_scale * self._g_load + self._g_caps) @ y)[:n]).sum()
        sub = s[self._src].sum()
        losses = loss.sum() + (self._g_line @ y)[:n].sum() + (self._cmat @ s).sum() - (s.sum() - sub)
        return PowerFlowResult(
            voltages_pu={k: math.sqrt(max(v, 0.0)) for k, v in zip(self.keys, x[:n], strict=True)},
            substation_p_kw=float(sub.real) * S_BASE_KVA,
            substation_q_kvar=float(sub.imag) * S_BASE_KVA,
            losses_kw=float(losses.real) * S_BASE_KVA,
            losses_kvar=float(losses.imag) * S_BASE_KVA,
            demand_p_kw=float(demand_total.real) * S_BASE_KVA,
            demand_q_kvar=float(demand_total.imag) * S_BASE_KVA,
            converged=converged,
            state=state,
        )
