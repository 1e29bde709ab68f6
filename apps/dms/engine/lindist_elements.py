"""LinDist3Flow's per-unit elements: branches (lines, transformers) with their phase-coupled
impedances and tap ratios, shunt windings (loads, capacitors, generators) with their voltage laws.

Split from `lindist3flow.py`, which assembles and solves the model from these pieces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from apps.dms.engine.network import (
    FeederImportError,
    Network,
    OperatingState,
    PowerFlowResult,
    Transformer,
    complex_voltages,
)

S_BASE_KVA = 1000.0  # per-phase power base inside the solver
_ALPHA = complex(math.cos(-2 * math.pi / 3), math.sin(-2 * math.pi / 3))

CArray: TypeAlias = NDArray[np.complexfloating[Any, Any]]
FArray: TypeAlias = NDArray[np.floating[Any]]
Sparse: TypeAlias = sp.csr_matrix
Block: TypeAlias = tuple[Sequence[int], Sequence[int], NDArray[Any]]


@dataclass
class _Branch:
    """A series element: T(tap) maps upstream to downstream phasors, M(tap) downstream to upstream
    currents (an ideal winding conserves power: I_w = n·I'_w); `z` is the series impedance (pu)."""

    name: str
    up: list[int]
    down: list[int]
    d1: FArray
    d2: FArray
    n0: FArray
    z: CArray
    y_half: CArray
    tap: tuple[float, ...]
    z_loop: complex = 0j  # around a delta secondary fed from a grounded wye: zero sequence circulates
    parts: tuple[str, ...] = ()  # the single-phase units of an open bank, one branch (`_bank_branch`)

    def __post_init__(self) -> None:
        self._d2_pinv = np.linalg.pinv(self.d2)  # an ungrounded delta secondary has no zero sequence

    @classmethod
    def series(cls, name: str, up: list[int], down: list[int], z: CArray, y_half: CArray) -> _Branch:
        """A branch without a ratio: the source impedance or a line."""
        k = len(down)
        return cls(name, up, down, np.eye(k), np.eye(k), np.ones(k), z, y_half, (1.0,) * k)

    def t(self, tap: Sequence[float]) -> CArray:
        return np.asarray(self._d2_pinv @ (self.d1 * (self.n0 * np.asarray(tap))[:, None]), complex)

    def zt(self, tap: Sequence[float]) -> CArray:
        """The series impedance at `tap`: OpenDSS rates leakage on the tapped winding voltage."""
        t = np.asarray(tap) if len(tap) == len(self.down) else np.full(len(self.down), tap[0])
        return np.asarray(self.z * np.outer(t, t), complex)

    def m(self, tap: Sequence[float]) -> FArray:
        return np.asarray((self.d1.T * (self.n0 * np.asarray(tap))[None, :]) @ self._d2_pinv.T)

    def y_ground(self, tap: Sequence[float]) -> CArray:
        """Primary currents = Y·V of the zero sequence circulating in a delta secondary fed from a
        grounded wye: the loop's EMFs n·V_w add up to 3·n·V0, driven around the delta's impedance."""
        n = self.n0 * np.asarray(tap)
        return np.asarray(np.outer(self.d1.T @ n, n @ self.d1) / (self.z_loop * tap[0] ** 2), complex)

    def k(self, tap: Sequence[float], v_up: CArray) -> tuple[FArray, CArray]:
        """K with |T V|² ≈ K·Y (exact at v_up: |T V|² is homogeneous of degree one in V_ψ conj V_χ)."""
        t = self.t(tap)
        return np.real(t * v_up[None, :] * np.conj(t @ v_up)[:, None]) / np.abs(v_up[None, :]) ** 2, t


# --- the feeder as per-unit branches and shunt windings ---------------------------------------------------


def _z_base(kv_ln: float) -> float:
    return kv_ln**2 * 1000.0 / S_BASE_KVA


def _tap(state: OperatingState, b: _Branch) -> tuple[float, ...]:
    kind, _, name = b.name.partition(".")
    if b.parts:  # one tap per unit, in the bank's winding order
        return tuple(state.taps.get(part, (t,))[0] for part, t in zip(b.parts, b.tap, strict=True))
    return tuple(state.taps.get(name, b.tap)) if kind == "transformer" else b.tap


def _nodes(index: dict[str, int], bus: str, phases: Sequence[int]) -> list[int]:
    return [index[f"{bus}.{p}"] for p in phases]


def _branches(net: Network, index: dict[str, int]) -> list[_Branch]:
    """The source impedance first, then lines and transformers with parents before children."""
    n, src = len(index), net.bus[net.source_bus]
    if src.phases != (1, 2, 3):
        raise FeederImportError(f"Source bus {src.name} is not three-phase.")
    z_src = np.asarray(np.array(net.source_z_ohm, dtype=complex) / _z_base(src.base_kv_ln), dtype=complex)
    source = _Branch.series(
        "vsource.source", [n, n + 1, n + 2], _nodes(index, src.name, (1, 2, 3)), z_src, 0 * z_src
    )
    depth = net.topology().depth
    banks: dict[tuple[str, str], list[Transformer]] = {}
    rest = []
    for t in net.transformers:
        if t.phases_to and not t.is_center_tap:
            banks.setdefault((t.bus_from, t.bus_to), []).append(t)
        else:
            rest.append((depth[t.bus_to], _transformer_branch(net, index, t)))
    rest += [(depth[bus_to], _bank_branch(net, index, units)) for (_, bus_to), units in banks.items()]
    for ln in net.lines:
        zb = _z_base(net.bus[ln.bus_to].base_kv_ln)
        up, down = _nodes(index, ln.bus_from, ln.phases), _nodes(index, ln.bus_to, ln.phases)
        line = _Branch.series(
            f"line.{ln.name}", up, down, ln.z_matrix() / zb, 0.5j * ln.b_matrix_us() * 1e-6 * zb
        )
        rest.append((depth[ln.bus_to], line))
    return [source] + [b for _, b in sorted(rest, key=lambda e: e[0])]


def _transformer_branch(net: Network, index: dict[str, int], tr: Transformer) -> _Branch:
    """Ideal ratio per winding (pu, tap 1) and the leakage impedance per secondary phase."""
    if tr.is_center_tap:
        return _center_tap_branch(net, index, tr)
    nw, k = tr.windings, len(tr.phases)
    b1, b2 = net.bus[tr.bus_from].base_kv_ln, net.bus[tr.bus_to].base_kv_ln
    d1, d2 = _winding_matrix(tr.winding_ends("from"), k), _winding_matrix(tr.winding_ends("to"), k)
    if tr.neutral_from:  # a floating wye neutral sits at the phase voltages' mean
        d1 = d1 - d1.sum(axis=1, keepdims=True) / k
    ratio = tr.winding_kv("to") / tr.winding_kv("from") * b1 / b2
    # Per-phase equivalent of the winding impedance: wye-equivalent for a 3-phase delta, half per end
    # for a single phase-to-phase winding.
    v_eq_sq = tr.kv_to**2 / 3 if nw > 1 else tr.kv_to**2 / k
    z_pu = complex(tr.r_pct, tr.x_pct) / 100 * v_eq_sq * S_BASE_KVA / (tr.kva / nw) / b2**2
    up, down = _nodes(index, tr.bus_from, tr.phases), _nodes(index, tr.bus_to, tr.phases)
    grounded = nw == 3 and (tr.conn_from, tr.conn_to) == ("wye", "delta") and not tr.neutral_from
    # The delta winding's impedance is three times its wye equivalent; three windings in the loop.
    z_loop = 9 * z_pu if grounded else 0j
    zero = np.zeros((k, k), complex)
    return _Branch(
        f"transformer.{tr.name}", up, down, d1, d2, np.full(nw, ratio), np.eye(k) * z_pu, zero, tr.tap, z_loop
    )


def _center_tap_branch(net: Network, index: dict[str, int], tr: Transformer) -> _Branch:
    """The primary winding paired with each half-winding; the second half runs from ground to its
    node, so its ratio is negative (the node sits 180° from the first). Leakage from the three-winding
    star equivalent of xhl, xht, xlt: with I_1, I_2 the currents out of the two nodes, the primary
    carries n (I_1 − I_2), so V_1 = n V_p − z_H (I_1 − I_2) − z_L I_1 and V_2 = −n V_p + z_H (I_1 −
    I_2) − z_T I_2, all referred to a half-winding."""
    r1, r2, r3, xhl, xht, xlt = tr.center_tap_pct
    b1, b2 = net.bus[tr.bus_from].base_kv_ln, net.bus[tr.bus_to].base_kv_ln
    per_pct = tr.kv_to**2 * S_BASE_KVA / tr.kva / b2**2 / 100  # % on the unit's kVA → pu here
    z_h = complex(r1, (xhl + xht - xlt) / 2) * per_pct
    z_l = complex(r2, (xhl + xlt - xht) / 2) * per_pct
    z_t = complex(r3, (xht + xlt - xhl) / 2) * per_pct
    z = np.array([[z_h + z_l, -z_h], [-z_h, z_h + z_t]], complex)
    primary = _winding_matrix(tr.winding_ends("from"), len(tr.phases))
    ratio = tr.kv_to / tr.winding_kv("from") * b1 / b2
    up, down = _nodes(index, tr.bus_from, tr.phases), _nodes(index, tr.bus_to, tr.phases_to)
    d1, n0 = np.vstack([primary, primary]), np.array([ratio, -ratio])
    zero = np.zeros((2, 2), complex)
    return _Branch(f"transformer.{tr.name}", up, down, d1, np.eye(2), n0, z, zero, tr.tap)


def _bank_branch(net: Network, index: dict[str, int], units: list[Transformer]) -> _Branch:
    """Single-phase units between the same two buses whose windings span other nodes on each side
    (an open-wye/open-delta bank: A–N to a–b and B–N to b–c), as one branch: their windings side by
    side. A secondary winding's voltage is n·(its primary's) − z_w·I_w; node currents are D2ᵀ·I_w,
    so the node voltages are pinv(D2)·(n D1 V_up) − pinv(D2) diag(z_w) pinv(D2)ᵀ·I. The secondary
    floats (no ground): pinv leaves its common mode at zero, as for a delta secondary."""
    b1, b2 = net.bus[units[0].bus_from].base_kv_ln, net.bus[units[0].bus_to].base_kv_ln
    up_ph = sorted({p for t in units for p in t.phases})
    down_ph = sorted({p for t in units for p in t.secondary_phases})
    d1 = np.vstack([_unit_row(t.winding_ends("from"), t.phases, up_ph) for t in units])
    d2 = np.vstack([_unit_row(t.winding_ends("to"), t.secondary_phases, down_ph) for t in units])
    n0 = np.array([t.winding_kv("to") / t.winding_kv("from") * b1 / b2 for t in units])
    z_w = [
        complex(t.r_pct, t.x_pct) / 100 * t.winding_kv("to") ** 2 * S_BASE_KVA / t.kva / b2**2 for t in units
    ]
    pinv = np.linalg.pinv(d2)
    z = np.asarray(pinv @ np.diag(z_w) @ pinv.T, complex)
    up, down = _nodes(index, units[0].bus_from, up_ph), _nodes(index, units[0].bus_to, down_ph)
    zero = np.zeros((len(down), len(down)), complex)
    name = "transformer." + "+".join(t.name for t in units)
    taps = tuple(t.tap[0] for t in units)
    # Three units from phase to ground closing a delta (a star equivalent's delta tertiary,
    # dss_three_winding.py) are a grounding bank: zero sequence circulates around the loop.
    closed = len(units) == 3 and np.allclose(d2.sum(axis=0), 0) and all(t.conn_from == "wye" for t in units)
    z_loop = complex(sum(z_w)) if closed else 0j
    return _Branch(name, up, down, d1, d2, n0, z, zero, taps, z_loop, parts=tuple(t.name for t in units))


def _unit_row(ends: list[tuple[int, int | None]], phases: tuple[int, ...], nodes: list[int]) -> FArray:
    """A unit's single winding (`_winding_matrix` over its own `phases`) as a row over the bank's `nodes`."""
    row = np.zeros(len(nodes))
    row[[nodes.index(p) for p in phases]] = _winding_matrix(ends, len(phases))[0]
    return row


def _winding_matrix(ends: list[tuple[int, int | None]], nodes: int) -> FArray:
    """Rows: windings; columns: nodes; +1 at a winding's start, −1 at its end (none for ground)."""
    d = np.zeros((len(ends), nodes))
    for w, (start, end) in enumerate(ends):
        d[w, start] = 1.0
        if end is not None:
            d[w, end] = -1.0
    return d


def _split(d: FArray, v: CArray) -> CArray:
    """Node powers per winding power: a winding's power divides over its ends as V_node / V_winding."""
    return np.asarray((d.T * v[:, None]) / (d @ v)[None, :], complex)


def _blocks(blocks: Sequence[Block], rows: int, cols: int) -> Sparse:
    if not blocks:
        return sp.csr_matrix((rows, cols), dtype=complex)
    r = [i for rr, cc, _ in blocks for i in rr for _ in cc]
    c = [j for rr, cc, _ in blocks for _ in rr for j in cc]
    data = np.concatenate([np.ravel(m) for _, _, m in blocks]).astype(complex)
    return sp.csr_matrix((data, (r, c)), shape=(rows, cols))


def _shunt_power(y_half: CArray, v: CArray) -> CArray:
    if not y_half.any():  # a transformer: nothing to ground (a center tap's two sides differ in size)
        return np.zeros(len(v), complex)
    return np.asarray(v * np.conj(y_half @ v))


def _marginal(
    branches: Sequence[_Branch],
    c: Sequence[NDArray[Any]],
    z: Sequence[CArray],
    v: CArray,
    s: CArray,
    second_order: bool,
) -> tuple[Sparse, Sparse, Sparse, Sparse]:
    """d(loss)/dP, d(loss)/dQ at the sending nodes and d|ZI|²/dP, d|ZI|²/dQ of every branch at flows s
    and phasors v, for loss = (Z I) ∘ conj(I), I = conj(s / V) at the receiving nodes."""
    n = len(s)
    jp, jq, hp, hq = [], [], [], []
    for b, cb, zb in zip(branches, c, z, strict=True):
        vd = v[b.down]
        i = np.conj(s[b.down] / vd)
        zi = zb @ i
        a = zb * np.conj(i)[:, None] / np.conj(vd)[None, :]
        if b.name != "vsource.source":
            jp.append((b.up, b.down, cb @ (a + np.diag(zi / vd))))
            jq.append((b.up, b.down, cb @ (-1j * a + np.diag(1j * zi / vd))))
        g = np.conj(zi)[:, None] * zb / np.conj(vd)[None, :] * second_order
        hp.append((b.down, b.down, 2 * g.real))
        hq.append((b.down, b.down, 2 * (-1j * g).real))
    return _blocks(jp, n, n), _blocks(jq, n, n), _blocks(hp, n, n).real, _blocks(hq, n, n).real


def _charging_tangent(ysh: Sparse, v: CArray) -> Sparse:
    """Line charging V ∘ conj(Y_sh V) as G·Y, exact at the phasors v."""
    coo = sp.coo_matrix(ysh)
    t = np.conj(coo.data) * v[coo.row] * np.conj(v[coo.col])
    y = np.abs(v) ** 2
    diag = np.bincount(coo.row, t.real, len(v)) + 1j * np.bincount(coo.row, t.imag, len(v))
    off = sp.csr_matrix((t / (2 * y[coo.col]), (coo.row, coo.col)), shape=ysh.shape)
    return sp.csr_matrix(sp.diags(diag / (2 * y)) + off)


def _phasors(result: PowerFlowResult, keys: Sequence[str]) -> CArray:
    phasors = complex_voltages(result)
    return np.array([phasors[k] for k in keys], complex)
