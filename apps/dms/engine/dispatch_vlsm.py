"""The voltage–load sensitivity model (VLSM, seed 002) a dispatch needs: d|V|/dx on the constrained
node-phases and d(substation Q)/dx, for every DER's P and Q.

They are LinDist3Flow's own sensitivities at the DERs' node-phases (`sensitivities()`, its
bus-block elimination), combined per DER: a DER's injection is shared equally over its phases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.dms.engine.dispatch_types import DerState
from apps.dms.engine.lindist3flow import LinDist3FlowModel
from apps.dms.engine.lindist_elements import S_BASE_KVA
from apps.dms.engine.network import OperatingState

FArray = NDArray[np.float64]


class DerSensitivities:
    """d|V_i| (pu) on `rows` and d(substation Q) (pu) per pu of each DER's [p_1..p_n, q_1..q_n] at
    `state`."""

    def __init__(
        self, model: LinDist3FlowModel, state: OperatingState, ders: Sequence[DerState], rows: Sequence[str]
    ) -> None:
        self.rows = tuple(rows)
        share, columns = _share(ders)
        sens = model.sensitivities(state, columns)
        at = {k: i for i, k in enumerate(sens.rows)}
        r = [at[k] for k in self.rows]
        self._dv: FArray = np.hstack([sens.dv_dp[r] @ share, sens.dv_dq[r] @ share]) * S_BASE_KVA
        self.dq: FArray = np.concatenate([sens.dq_sub_dp @ share, sens.dq_sub_dq @ share])

    def dv(self, idx: NDArray[np.integer[Any]]) -> FArray:
        """Rows `idx` (into `rows`) of d|V|/dx, (len(idx), 2 × DERs)."""
        return np.asarray(self._dv[idx])


def _share(ders: Sequence[DerState]) -> tuple[FArray, list[str]]:
    """(node-phase columns × DERs): a DER's injection shared equally over its phases."""
    columns = sorted({f"{d.bus}.{p}" for d in ders for p in d.phases})
    col = {k: i for i, k in enumerate(columns)}
    share = np.zeros((len(columns), len(ders)))
    for j, d in enumerate(ders):
        for p in d.phases:
            share[col[f"{d.bus}.{p}"], j] = 1.0 / len(d.phases)
    return share, columns
