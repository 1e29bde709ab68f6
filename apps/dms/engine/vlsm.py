"""Voltage–load sensitivity matrices of the LinDist3Flow system by block elimination along the feeder.

The linearized system `a` (unknowns Y = |V|², then P and Q of the branch into every node-phase) only
couples a bus to its parent and its children, so grouping each bus's unknowns into one block of nine
(Y, P, Q × three phase slots; missing phases padded with an identity) makes `a` block-tree-shaped:

    S_g = A_gg − Σ_children A_gc S_c⁻¹ A_cg          (leaves first: no fill outside the tree)

A unit injection at bus k only needs the forward elimination along its path to the root:
y_k = e, y_parent = −A_pg S_g⁻¹ y_g; with u_g = S_g⁻¹ y_g on that path, back substitution is

    x_g = u_g − S_g⁻¹ A_gp x_p,

and since A_gp (the drop equation's K) only reads the parent's Y, the Y rows close on themselves:
Y_g = u_g[Y] + T_g Y_parent with a 3 × 3 T_g per bus. That sweep is one sparse × dense product per
depth over every column at once, written straight into the output (the per-row |V| scaling folded
into T and u), so the full n × n matrices cost O(n² · phases) and nothing bigger than the output.
`factor` returns None when `a` does not have this shape; the caller then falls back to SuperLU.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike, NDArray

try:  # scipy's kernel behind csr @ dense, which also accumulates in place
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a scipy that moved it: the public product still works
    _csr_matvecs = None

FArray: TypeAlias = NDArray[np.floating[Any]]
IArray: TypeAlias = NDArray[np.intp]
SLOTS = 9  # Y, P, Q × three phase slots
P_KIND, Q_KIND = 1, 2


@dataclass(frozen=True)
class TreeFactor:
    """Bus-block LU of `a`: groups are buses in depth order; `levels` their node-phase slices."""

    n: int
    group: IArray  # bus block of every node-phase
    pos: IArray  # its phase slot in that block
    rows_of: IArray  # (G, 3): node-phase of each phase slot, −1 where the bus lacks the phase
    parent: IArray  # (G,) parent block, −1 at the source bus
    s_inv: FArray  # (G, 9, 9) S_g⁻¹
    f_up: FArray  # (G, 9, 9) −A_pg S_g⁻¹: carries an eliminated right-hand side to the parent
    levels: tuple[slice, ...]  # node-phase rows of each depth, source first
    depth: IArray  # (G,) of every bus block, 0 at the source
    t: sp.csr_matrix  # n × n: T of every node-phase's row on its parent bus's node-phases


def factor(a: sp.spmatrix, keys: Sequence[str], parent_bus: Mapping[str, str]) -> TreeFactor | None:
    """The bus-block factorization of `a` (3n × 3n, node-phases `keys` = "<bus>.<phase>" in depth
    order), or None if `a` couples anything but a bus, its parent and its children."""
    n = len(keys)
    buses = [k.rsplit(".", 1)[0] for k in keys]
    names = list(dict.fromkeys(buses))
    gid = {b: i for i, b in enumerate(names)}
    group = np.array([gid[b] for b in buses], dtype=np.intp)
    if np.any(np.diff(group) < 0):
        return None  # a bus's node-phases are not contiguous
    pos = np.arange(n) - np.searchsorted(group, group)
    parent = np.array([gid.get(parent_bus.get(b, ""), -1) for b in names], dtype=np.intp)
    tree = _levels(group, parent)
    if pos.max(initial=0) > 2 or tree is None:
        return None
    levels, depth = tree
    rows_of = np.full((len(names), 3), -1, dtype=np.intp)
    rows_of[group, pos] = np.arange(n)
    blocks = _blocks(sp.coo_matrix(a), n, group, pos, parent)
    if blocks is None:
        return None
    diag, up, down = blocks
    pad = np.tile(rows_of < 0, (1, 3))  # padded slots: identity, no coupling
    diag[:, np.arange(SLOTS), np.arange(SLOTS)] += pad
    try:
        f = _eliminate(n, group, pos, rows_of, parent, diag, up, down, levels, depth)
    except np.linalg.LinAlgError:
        return None  # a singular bus block: SuperLU's pivoting across buses copes with it
    return f if np.isfinite(f.s_inv).all() else None


def _levels(group: IArray, parent: IArray) -> tuple[tuple[slice, ...], IArray] | None:
    """Node-phase slices of each depth and each bus's depth; None unless parents come first and
    depths are contiguous."""
    depth = np.zeros(len(parent), dtype=np.intp)
    for g, p in enumerate(parent):
        if p >= g and p != -1:
            return None
        depth[g] = depth[p] + 1 if p >= 0 else 0
    if (parent < 0).sum() != 1 or np.any(np.diff(depth) < 0):
        return None
    row_depth = depth[group]
    edges = np.flatnonzero(np.diff(row_depth)) + 1
    bounds = [0, *edges.tolist(), len(group)]
    return tuple(slice(s, e) for s, e in itertools.pairwise(bounds)), depth


def _blocks(
    a: sp.coo_matrix, n: int, group: IArray, pos: IArray, parent: IArray
) -> tuple[FArray, FArray, FArray] | None:
    """`a` as 9 × 9 blocks: diagonal, parent-row/child-column (`up`) and child-row/parent-column
    (`down`), or None if some entry couples two buses that are not parent and child."""
    keep = a.data != 0
    r, c, v = a.row[keep], a.col[keep], a.data[keep]
    gr, gc = group[r % n], group[c % n]
    sr, sc = 3 * (r // n) + pos[r % n], 3 * (c // n) + pos[c % n]
    size = (len(parent), SLOTS, SLOTS)
    diag, up, down = np.zeros(size), np.zeros(size), np.zeros(size)
    same, is_up, is_down = gr == gc, parent[gc] == gr, parent[gr] == gc
    if not np.all(same | is_up | is_down) or np.any(sc[is_down] >= 3):
        return None  # down couplings other than the parent's Y would break the Y-only sweep
    diag[gr[same], sr[same], sc[same]] = v[same]
    up[gc[is_up], sr[is_up], sc[is_up]] = v[is_up]
    down[gr[is_down], sr[is_down], sc[is_down]] = v[is_down]
    return diag, up, down


def _eliminate(
    n: int,
    group: IArray,
    pos: IArray,
    rows_of: IArray,
    parent: IArray,
    diag: FArray,
    up: FArray,
    down: FArray,
    levels: tuple[slice, ...],
    depth: IArray,
) -> TreeFactor:
    """Schur complements leaves first, one depth at a time (children of a depth sit one level down)."""
    s_inv, f_up = np.empty_like(diag), np.zeros_like(diag)
    for rows in reversed(levels):
        g = np.unique(group[rows])
        s_inv[g] = np.linalg.inv(diag[g])
        child = g[parent[g] >= 0]
        f_up[child] = -up[child] @ s_inv[child]
        np.add.at(diag, parent[child], f_up[child] @ down[child])
    t = -(s_inv[:, :3, :] @ down[:, :, :3])
    cols = rows_of[parent[group]]  # (n, 3): the parent bus's node-phases, increasing (CSR order)
    keep = cols >= 0
    keep[levels[0]] = False  # the source bus's drop equation reads the fixed source voltage
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    t_mat = sp.csr_matrix((t[group, pos][keep], cols[keep], indptr), shape=(n, n))
    return TreeFactor(n, group, pos, rows_of, parent, s_inv, f_up, levels, depth, t_mat)


def responses(
    f: TreeFactor, cols: IArray, scale: FArray, dtype: DTypeLike = np.float64
) -> tuple[FArray, FArray, FArray]:
    """scale[i] · Y_i for unit P and for unit Q demand at node-phases `cols` (two n × m arrays), and
    the source bus's P and Q unknowns summed over its phases (rows: P per P, P per Q, Q per P, Q per Q)."""
    m = len(cols)
    z_rows, z_cols, z_vals, root = _forward(f, np.concatenate([cols, cols]), np.repeat([P_KIND, Q_KIND], m))
    outs = [np.zeros((f.n, m), dtype=dtype) for _ in range(2)]
    for k, out in enumerate(outs):
        pick = (z_cols >= k * m) & (z_cols < (k + 1) * m)
        out[z_rows[pick], z_cols[pick] - k * m] = z_vals[pick] * scale[z_rows[pick]]
    _sweep(f, outs, scale)
    return outs[0], outs[1], np.stack([root[0, :m], root[0, m:], root[1, :m], root[1, m:]])


def _forward(f: TreeFactor, cols: IArray, kinds: IArray) -> tuple[IArray, IArray, FArray, FArray]:
    """Forward elimination of unit right-hand sides along their paths to the source: the nonzero
    Y entries of u (rows, columns, values) and the source bus's summed P, Q entries of u. Columns
    go deepest first, so those whose path has reached a depth are always a prefix."""
    start = f.depth[f.group[cols]]
    order = np.argsort(-start, kind="stable")
    cols, kinds = cols[order], kinds[order]
    reached = np.cumsum(np.bincount(start, minlength=len(f.levels))[::-1])[::-1]  # depth ≥ d
    g, y = f.group[cols], np.zeros((len(cols), SLOTS))
    y[np.arange(len(cols)), 3 * kinds + f.pos[cols]] = 1.0
    parts: list[tuple[IArray, FArray]] = []
    for d in range(int(start.max(initial=-1)), -1, -1):
        k = reached[d]
        u = np.einsum("kij,kj->ki", f.s_inv[g[:k]], y[:k])
        parts.append((f.rows_of[g[:k]], u[:, :3]))
        y[:k] = np.einsum("kij,kj->ki", f.f_up[g[:k]], y[:k])
        g[:k] = f.parent[g[:k]]
    root = np.empty((2, len(cols)))
    if parts:  # the last step was the source bus, for every column
        root[:, order] = [u[:, 3:6].sum(axis=1), u[:, 6:].sum(axis=1)]
    rows = np.concatenate([r for r, _ in parts]) if parts else np.zeros((0, 3), np.intp)
    where = np.concatenate([np.broadcast_to(order[: len(r), None], r.shape) for r, _ in parts] or [rows])
    vals = np.concatenate([v for _, v in parts]) if parts else np.zeros((0, 3))
    real = rows >= 0
    return rows[real], where[real], vals[real], root


def _sweep(f: TreeFactor, outs: Sequence[FArray], scale: FArray) -> None:
    """out[depth] += T' out[depth above], source first, with T' = diag(scale) T diag(1/scale)."""
    t = f.t
    rows_of_entry = np.repeat(np.arange(f.n), np.diff(t.indptr))
    w = (t.data * scale[rows_of_entry] / scale[t.indices]).astype(outs[0].dtype)
    for above, rows in itertools.pairwise(f.levels):
        lo, hi = t.indptr[rows.start], t.indptr[rows.stop]
        ptr = (t.indptr[rows.start : rows.stop + 1] - lo).astype(t.indptr.dtype)
        part = (w[lo:hi], (t.indices[lo:hi] - above.start).astype(t.indices.dtype), ptr)
        shape = (rows.stop - rows.start, above.stop - above.start)
        for out in outs:
            if _csr_matvecs is not None and out.flags.c_contiguous:
                # Y += T X straight into the output rows: no temporary as big as a depth's rows
                _csr_matvecs(
                    *shape, out.shape[1], part[2], part[1], part[0], out[above].ravel(), out[rows].ravel()
                )
            else:
                out[rows] += sp.csr_matrix(part, shape=shape) @ out[above]


def superlu_responses(
    lu: Any, n: int, src: IArray, cols: IArray, scale: FArray, dtype: DTypeLike = np.float64, block: int = 512
) -> tuple[FArray, FArray, FArray]:
    """The same as `responses` for injections (not demand), by SuperLU solves of unit right-hand
    sides, a block of columns at a time so memory grows with n·len(cols), not (3n)²."""
    dv_p, dv_q = np.empty((n, len(cols)), dtype=dtype), np.empty((n, len(cols)), dtype=dtype)
    dsub = np.empty((4, len(cols)))  # dP_sub/dP, dP_sub/dQ, dQ_sub/dP, dQ_sub/dQ
    for start in range(0, len(cols), block):
        part = cols[start : start + block]
        unit = np.zeros((3 * n, len(part)))
        unit[n + part, np.arange(len(part))] = 1.0
        dp = -np.asarray(lu.solve(unit))
        unit = np.roll(unit, n, axis=0)  # the same injections as reactive power
        dq = -np.asarray(lu.solve(unit))
        window = slice(start, start + len(part))
        dv_p[:, window], dv_q[:, window] = dp[:n] * scale[:, None], dq[:n] * scale[:, None]
        dsub[:, window] = [
            dp[n + src].sum(axis=0),
            dq[n + src].sum(axis=0),
            dp[2 * n + src].sum(axis=0),
            dq[2 * n + src].sum(axis=0),
        ]
    return dv_p, dv_q, dsub
