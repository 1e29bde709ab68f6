"""Voltage–load sensitivities of a LinDist3Flow model: its responses to unit injections at node-phases,
by block elimination along the feeder tree (vlsm.py) or by SuperLU solves of unit right-hand sides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import DTypeLike

from apps.dms.engine import vlsm
from apps.dms.engine.lindist_elements import S_BASE_KVA, FArray
from apps.dms.engine.network import OperatingState

if TYPE_CHECKING:
    from apps.dms.engine.lindist3flow import LinDist3FlowModel, _Factors


@dataclass(frozen=True)
class Sensitivities:
    """Voltage–load sensitivities of the linear model: rows are every node-phase (`rows`), columns the
    node-phases injected at (`keys`), both "<bus>.<phase>".

    `dv_dp[i, j]`: change of |V_i| in pu per kW injected at node-phase j (`dv_dq`: per kvar injected).
    `dp_sub_dp[j]` etc.: kW / kvar drawn from the source per kW / kvar injected at j.
    `dv_dsource[i]`: pu at node i per pu of source voltage.
    """

    rows: tuple[str, ...]
    keys: tuple[str, ...]
    dv_dp: FArray
    dv_dq: FArray
    dp_sub_dp: FArray
    dp_sub_dq: FArray
    dq_sub_dp: FArray
    dq_sub_dq: FArray
    dv_dsource: FArray


def unit_responses(
    model: LinDist3FlowModel,
    state: OperatingState,
    columns: Sequence[str] | None,
    method: str,
    dtype: DTypeLike,
) -> Sensitivities:
    """`LinDist3FlowModel.sensitivities`: d|V|/dP, d|V|/dQ of injections at `columns` around `state`."""
    if method not in ("auto", "tree", "superlu"):
        raise ValueError(f"Unknown sensitivity method {method!r}: use 'auto', 'tree' or 'superlu'.")
    f, n = model._factor(state), model._n
    cols = np.array([model._index[k] for k in columns] if columns is not None else range(n), dtype=int)
    y_root = np.abs(model._source_phasors(state)) ** 2
    s0 = model._s0
    demand = state.load_scale * model._a_load[:n] + model._gen[:n] + model._der_demand(state)
    x = model._solve_rhs(
        f.lu, f.r.k_mat[:, n:] @ y_root - model._h + model._hsum(s0), demand + model._loss - model._jsum(s0)
    )
    dy_src = np.asarray(
        f.lu.solve(np.concatenate([f.r.k_mat[:, n:] @ (2 * np.sqrt(y_root)), np.zeros(2 * n)]))
    )
    per_y = 0.5 / np.sqrt(np.maximum(x[:n], 1e-12))  # d|V|/dY
    small = method == "auto" and n * len(cols) < 8_000
    tree = _tree(model, f) if method != "superlu" and not small else None
    if tree is not None:  # injections are negative demand: the row scale carries the sign
        dv_p, dv_q, dsub = vlsm.responses(tree, cols, -per_y / S_BASE_KVA, dtype)
        dsub = -dsub
    else:
        dv_p, dv_q, dsub = vlsm.superlu_responses(f.lu, n, model._src, cols, per_y / S_BASE_KVA, dtype)
    return Sensitivities(
        rows=model.keys,
        keys=tuple(model.keys[c] for c in cols),
        dv_dp=dv_p,
        dv_dq=dv_q,
        dp_sub_dp=dsub[0],
        dp_sub_dq=dsub[1],
        dq_sub_dp=dsub[2],
        dq_sub_dq=dsub[3],
        dv_dsource=dy_src[:n] * per_y,
    )


def _tree(model: LinDist3FlowModel, f: _Factors) -> vlsm.TreeFactor | None:
    if not f.tree_tried:
        f.tree, f.tree_tried = vlsm.factor(f.a, model.keys, model.net.topology().parent), True
    return f.tree
