"""The voltage–load sensitivity model (VLSM, seed 002) a dispatch needs, row by row.

A dispatch needs d|V|/dx on few node-phases (the monitored ones of the deviation term, the ones near a
limit in stage 2) but for every DER column; LinDist3Flow's `sensitivities()` solves one column per DER
injection (2 × DERs solves, each over every node-phase). The same numbers come row-wise from the
transposed factorization (adjoint solves): row i of A⁻¹ is A⁻ᵀ e_i, one solve per node-phase asked for
and one for the substation Q, whatever the number of DERs — on a 10,000 node-phase feeder with 1,000
DERs that is a few hundred solves instead of 2,000. Rows are computed when first asked and kept.

This reads LinDist3Flow's factorization (the model's `_factor`, `_index`, `_src`); if those change
shape, `RowSensitivities.available` is False and the dispatch falls back to `sensitivities()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.dms.engine.dispatch_types import DerState
from apps.dms.engine.lindist3flow import LinDist3FlowModel
from apps.dms.engine.network import OperatingState

FArray = NDArray[np.float64]
S_BASE_KVA = 1000.0
BLOCK = 256  # right-hand sides per solve


class RowSensitivities:
    """d|V_i| (pu) and d(substation Q) (pu) per pu of each DER's [p_1..p_n, q_1..q_n] at `state`."""

    def __init__(
        self, model: LinDist3FlowModel, state: OperatingState, ders: Sequence[DerState], rows: Sequence[str]
    ) -> None:
        self.rows = tuple(rows)
        self._cache: dict[int, FArray] = {}
        self._share, columns = _share(ders)
        self.available = all(hasattr(model, a) for a in ("_factor", "_index", "_src", "_n"))
        if not self.available:
            self._full = _public(model, state, columns, self.rows, self._share)
            self.dq = self._full[1]
            return
        m: Any = model
        self._n, self._lu = int(m._n), m._factor(state).lu
        self._cols = np.array([m._index[k] for k in columns], dtype=int)
        self._row_index = np.array([m._index[k] for k in self.rows], dtype=int)
        v = model.solve(state).voltages_pu  # the linearization's |V| (no refresh): d|V|/dY = 1/(2|V|)
        self._per_y = np.array([0.5 / max(v[k], 1e-6) for k in self.rows])
        unit = np.zeros((3 * self._n, 1))
        unit[2 * self._n + np.asarray(m._src), 0] = 1.0
        self.dq = self._responses(unit)[:, 0]

    def dv(self, idx: NDArray[np.integer[Any]]) -> FArray:
        """Rows `idx` (into `rows`) of d|V|/dx, (len(idx), 2 × DERs)."""
        if not self.available:
            return np.asarray(self._full[0][idx])
        missing = [int(i) for i in idx if int(i) not in self._cache]
        for start in range(0, len(missing), BLOCK):
            part = missing[start : start + BLOCK]
            unit = np.zeros((3 * self._n, len(part)))
            unit[self._row_index[part], np.arange(len(part))] = 1.0
            out = self._responses(unit) * self._per_y[part][None, :]
            for k, i in enumerate(part):
                self._cache[i] = out[:, k]
        width = 2 * self._share.shape[1]
        return np.array([self._cache[int(i)] for i in idx]).reshape(len(idx), width)

    def _responses(self, unit: FArray) -> FArray:
        """Columns: the response of the chosen quantity to unit P then Q injections per DER (2n, k)."""
        y = np.asarray(self._lu.solve(unit, trans="T"))
        n = self._n
        dp, dq = -y[n + self._cols], -y[2 * n + self._cols]  # (DER node-phases, k)
        return np.vstack([self._share.T @ dp, self._share.T @ dq]) * 1.0


def _share(ders: Sequence[DerState]) -> tuple[FArray, list[str]]:
    """(node-phase columns × DERs): a DER's injection shared equally over its phases."""
    columns = sorted({f"{d.bus}.{p}" for d in ders for p in d.phases})
    col = {k: i for i, k in enumerate(columns)}
    share = np.zeros((len(columns), len(ders)))
    for j, d in enumerate(ders):
        for p in d.phases:
            share[col[f"{d.bus}.{p}"], j] = 1.0 / len(d.phases)
    return share, columns


def _public(
    model: LinDist3FlowModel, state: OperatingState, columns: list[str], rows: tuple[str, ...], share: FArray
) -> tuple[FArray, FArray]:
    sens = model.sensitivities(state, columns)
    at = {k: i for i, k in enumerate(sens.rows)}
    r = [at[k] for k in rows]
    dv = np.hstack([sens.dv_dp[r] @ share, sens.dv_dq[r] @ share]) * S_BASE_KVA
    return dv, np.concatenate([sens.dq_sub_dp @ share, sens.dq_sub_dq @ share])
