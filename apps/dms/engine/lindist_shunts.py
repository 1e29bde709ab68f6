"""LinDist3Flow's shunt windings: loads, capacitors, shunt reactors and generators as windings across
node pairs, each drawing its power by the voltage law OpenDSS's Load.pas applies (`network.PowerLaw`).

Split from `lindist_elements.py` (branches) for size; `lindist3flow.py` assembles the model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp

from apps.dms.engine.lindist_elements import S_BASE_KVA, CArray, FArray, Sparse, _nodes, _split
from apps.dms.engine.network import Capacitor, Generator, Load, Network, ShuntReactor, shunt_windings


@dataclass
class _Windings:
    """Shunt elements as windings across node pairs (`d`: ±1 at each end) drawing s_nom · f(|V_w|²);
    linearized, |V_w|² ≈ kw·Y and node powers = cw·s_w. `law` holds one row per winding:
    nP, nbP, interpolatedP, nQ, nbQ, interpolatedQ, U_rated, vmin, vmax, vlow (`PowerLaw`), ZIP cut-off."""

    d: Sparse
    kw: Sparse
    cw: Sparse
    s_nom: CArray
    law: FArray
    # |V_w|² that picks each winding's branch of its law instead of its own (`held`); None: its own.
    side_u: FArray | None = None

    def held(self, v: CArray) -> _Windings:
        """The same windings, each kept on the branch of its law (inside or outside [vmin, vmax]) it
        is on at phasors v, wherever its voltage goes: where a load's power steps at an edge, the
        power flow has a solution on each side, and this asks for the one on v's side."""
        return replace(self, side_u=np.abs(self.d @ v) ** 2)

    def power(self, u: FArray) -> tuple[CArray, CArray]:
        lw, side = self.law.T, u if self.side_u is None else self.side_u
        fp, dfp = _law(u, side, lw[6], lw[0], lw[1], lw[2], lw[7], lw[8], lw[9])
        fq, dfq = _law(u, side, lw[6], lw[3], lw[4], lw[5], lw[7], lw[8], lw[9])
        if np.any(lw[10] > 0):
            y, dy = _drop_out(u, lw[6], lw[9], lw[10])
            fp, dfp, fq, dfq = fp * y, dfp * y + fp * dy, fq * y, dfq * y + fq * dy
        s = self.s_nom
        return s.real * fp + 1j * s.imag * fq, s.real * dfp + 1j * s.imag * dfq

    def tangent(self, y: FArray) -> tuple[CArray, Sparse]:
        """Node demand ≈ a + G·Y, tangent at Y."""
        u = self.kw @ y
        s, ds = self.power(u)
        return np.asarray(self.cw @ (s - ds * u)), sp.csr_matrix(self.cw @ sp.diags(ds) @ self.kw)

    def at(self, v: CArray) -> CArray:
        """Node demand at phasors v: a winding's power splits over its ends as V_node / V_winding."""
        vw = self.d @ v
        return np.asarray(v * (self.d.T @ (self.power(np.abs(vw) ** 2)[0] / np.where(vw == 0, 1, vw))))


def _law(
    u: FArray,
    side: FArray,
    u_r: FArray,
    n: FArray,
    nb: FArray,
    interp: FArray,
    vmin: FArray,
    vmax: FArray,
    vlow: FArray,
) -> tuple[FArray, FArray]:
    """P/P0 (or Q/Q0) of a load at |V_w|² = u, and its derivative in u, as OpenDSS's Load.pas
    switches it (`network.PowerLaw`): v^n in [vmin, vmax], impedances outside, the nominal one
    below vlow. The branch is the one |V_w|² = side is on (u itself, unless held)."""
    v = np.sqrt(np.maximum(u, 1e-12) / u_r)
    vs = np.sqrt(np.maximum(side, 1e-12) / u_r)
    # Below vmin: the current at vmin, falling linearly to the nominal impedance's at vlow.
    i_min = np.where(vmin > 0, np.maximum(vmin, 1e-12) ** (nb - 1), 0.0)
    slope = np.where(interp > 0, (i_min - vlow) / np.maximum(vmin - vlow, 1e-12), 0.0)
    i_low = np.where(interp > 0, vlow + slope * (v - vlow), i_min * v / np.maximum(vmin, 1e-12))
    di_low = np.where(interp > 0, slope, i_min / np.maximum(vmin, 1e-12))
    safe_v = np.maximum(v, 1e-12)
    f = np.select(
        [vs <= vlow, vs <= vmin, vs > vmax],
        [v**2, v * i_low, vmax ** (nb - 2) * v**2],
        safe_v**n,
    )
    df_dv = np.select(
        [vs <= vlow, vs <= vmin, vs > vmax],
        [2 * v, i_low + v * di_low, 2 * vmax ** (nb - 2) * v],
        n * safe_v ** (n - 1),
    )
    return f, df_dv / (2 * safe_v * u_r)


def _drop_out(u: FArray, u_r: FArray, vlow: FArray, cut: FArray) -> tuple[FArray, FArray]:
    """A ZIP load's low-voltage drop-out (the 7th ZIPV coefficient) as Load.pas applies it: the current
    times y = ½(1 + tanh(500 (v − cut))) above vlow, so the load vanishes within ±0.01 pu of `cut`;
    below vlow the nominal impedance stays. Returns y and dy/du."""
    v = np.sqrt(np.maximum(u, 1e-12) / u_r)
    t = np.tanh(500.0 * (v - cut))
    on = (cut > 0) & (v > vlow)
    y = np.where(on, 0.5 * (1.0 + t), 1.0)
    dy = np.where(on, 250.0 * (1.0 - t * t) / (2.0 * v * u_r), 0.0)
    return y, dy


_Row: TypeAlias = tuple[list[int], list[float], complex, tuple[float, ...]]


def _shunts(net: Network, index: dict[str, int], v: CArray) -> tuple[_Windings, _Windings, CArray]:
    """Loads (scaled by the load scale), fixed impedances (capacitors, shunt reactors), and the constant
    demand of generators."""
    loads = [
        row for ld in net.loads for row in _rows(index, net, ld, complex(ld.p_kw, ld.q_kvar), _load_law(ld))
    ]
    caps = [row for cap in net.capacitors for row in _rows(index, net, cap, -1j * cap.kvar, _CONSTANT_Z)]
    caps += [
        row for x in net.shunt_reactors for row in _rows(index, net, x, complex(x.kw, x.kvar), _CONSTANT_Z)
    ]
    gen = np.zeros(len(v), complex)
    for g in net.generators:
        for nodes, d, s, _ in _rows(index, net, g, complex(g.p_kw, g.q_kvar), _CONSTANT_S):
            gen[nodes] -= _split(np.array([d]), v[nodes])[:, 0] * s
    return _windings(loads, v), _windings(caps, v), gen


# Law rows without U_rated: nP, nbP, interpP, nQ, nbQ, interpQ | vmin, vmax, vlow, ZIP cut-off.
_CONSTANT_Z = (2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 0.0, np.inf, 0.0, 0.0)
_CONSTANT_S = (0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, np.inf, 0.0, 0.0)


def _load_law(ld: Load) -> tuple[float, ...]:
    p, q = ld.laws
    laws = (p.n, p.nb, float(p.interpolated), q.n, q.nb, float(q.interpolated))
    return (*laws, ld.vmin_pu, ld.vmax_pu, ld.vlow_pu, ld.zip_cutoff_pu)


_Shunt: TypeAlias = Load | Capacitor | ShuntReactor | Generator


def _rows(index: dict[str, int], net: Network, x: _Shunt, s: complex, law: tuple[float, ...]) -> list[_Row]:
    """One row per winding: its nodes, ±1 at its ends, its share of s (pu), its law (`_Windings.law`)."""
    ends, kv_w = shunt_windings(x.conn, x.phases, x.kv)
    u_rated = (kv_w / net.bus[x.bus].base_kv_ln) ** 2
    rows = []
    for start, end in ends:
        nodes = _nodes(index, x.bus, [start] if end is None else [start, end])
        rows.append(
            (nodes, [1.0, -1.0][: len(nodes)], s / len(ends) / S_BASE_KVA, (*law[:6], u_rated, *law[6:]))
        )
    return rows


def _windings(rows: list[_Row], v: CArray) -> _Windings:
    """|V_w|² ≈ kw·Y with kw_n = Re(d_n V_n conj V_w)/|V_n|² (exact at v); node share cw_n = d_n V_n/V_w."""
    r, c, d_v, kw_v, cw_v = [], [], [], [], []
    for w, (nodes, d, _, _) in enumerate(rows):
        dv = np.array(d) * v[nodes]
        vw = dv.sum()
        r += [w] * len(nodes)
        c += nodes
        d_v += d
        kw_v += list(np.real(dv * np.conj(vw)) / np.abs(v[nodes]) ** 2)
        cw_v += list(dv / vw)
    shape = (len(rows), len(v))
    d_mat = sp.csr_matrix((d_v, (r, c)), shape=shape)
    kw = sp.csr_matrix((kw_v, (r, c)), shape=shape)
    cw = sp.csr_matrix((cw_v, (c, r)), shape=shape[::-1], dtype=complex)
    law = np.array([row[3] for row in rows], dtype=float).reshape(-1, 11)
    return _Windings(d_mat, kw, cw, np.array([row[2] for row in rows], complex), law)
