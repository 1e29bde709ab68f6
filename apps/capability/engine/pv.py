"""PV on a feeder "the paper's way" (seed 004 §V-B): about `count` equal single-phase PV units spread
evenly over the feeder's load node-phases, the PV peak a `penetration` share of the peak load, each
inverter rated `oversize` × its PV peak. Engineering units (kW, kVA); deterministic given the seed.

Node-phases are those of the loads (a delta load's bus phases), on grounded buses only (a wye DER
behind an ungrounded delta has no ground reference). Units go to the phases in proportion to
`phase_shares` (balanced by default; seed 004 Table IV's unbalanced scenarios otherwise) and, within
a phase, round-robin over that phase's node-phases in a seeded random order, so no node-phase gets a
second unit before every node-phase of its phase has one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from apps.dms.engine.network import Network

BALANCED = (1 / 3, 1 / 3, 1 / 3)


@dataclass(frozen=True)
class PVUnit:
    """A PV inverter: `p_avail_kw` is the PV power available now (S_j), `s_rated_kva` the inverter
    rating (S̄_j), `q_inj_max_kvar` / `q_abs_max_kvar` its reactive ratings (None: the kVA), all totals
    over `phases` (an injection is shared equally over them)."""

    name: str
    bus: str
    phases: tuple[int, ...]
    p_avail_kw: float
    s_rated_kva: float
    q_inj_max_kvar: float | None = None
    q_abs_max_kvar: float | None = None

    @property
    def u_range(self) -> tuple[float, float]:
        """Bounds of q / S̄: the reactive ratings within the disk."""
        # IEEE 1547-2018 §5.2: a DER's reactive capability is its own rating, often below its kVA.
        s = self.s_rated_kva
        if s <= 0.0:
            return 0.0, 0.0
        inj = 1.0 if self.q_inj_max_kvar is None else min(max(self.q_inj_max_kvar / s, 0.0), 1.0)
        ab = 1.0 if self.q_abs_max_kvar is None else min(max(self.q_abs_max_kvar / s, 0.0), 1.0)
        return -ab, inj


def add_pv(
    net: Network,
    *,
    penetration: float,
    count: int,
    oversize: float,
    seed: int,
    phase_shares: tuple[float, float, float] = BALANCED,
) -> list[PVUnit]:
    """`count` equal single-phase PV units totalling `penetration` × the feeder's peak load (kW),
    inverters `oversize` × PV peak; `phase_shares` of the units on phases 1/2/3. ValueError on bad
    arguments or a feeder without loads."""
    _check_arguments(penetration, count, oversize, phase_shares)
    candidates = load_node_phases(net)
    peak_kw = sum(ld.p_kw for ld in net.loads)
    if not candidates or peak_kw <= 0:
        raise ValueError(f"Feeder {net.name} has no loads on grounded buses to place PV at.")
    per_phase = _units_per_phase(count, phase_shares)
    rng = random.Random(seed)
    p_unit = penetration * peak_kw / count
    units: list[PVUnit] = []
    for phase, n_units in per_phase.items():
        buses = candidates.get(phase, [])
        if n_units and not buses:
            raise ValueError(f"Phase {phase} gets PV but feeder {net.name} has no load on it.")
        buses = sorted(buses)
        rng.shuffle(buses)
        for k in range(n_units):
            bus = buses[k % len(buses)]
            name = f"pv-{bus}-{phase}-{k // len(buses) + 1}"
            units.append(PVUnit(name, bus, (phase,), p_unit, oversize * p_unit))
    return units


def load_node_phases(net: Network) -> dict[int, list[str]]:
    """Buses with load on each phase (1/2/3), grounded buses only, in feeder order."""
    ungrounded = net.ungrounded_buses()
    order = {b: i for i, b in enumerate(net.topology().order)}
    out: dict[int, set[str]] = {}
    for ld in net.loads:
        if ld.bus not in ungrounded:
            for p in ld.phases:
                out.setdefault(p, set()).add(ld.bus)
    return {p: sorted(buses, key=order.__getitem__) for p, buses in sorted(out.items())}


def _check_arguments(
    penetration: float, count: int, oversize: float, phase_shares: tuple[float, ...]
) -> None:
    if not math.isfinite(penetration) or penetration <= 0:
        raise ValueError(f"PV penetration must be positive (a share of peak load), not {penetration}.")
    if count < 1:
        raise ValueError(f"PV count must be at least 1, not {count}.")
    if not math.isfinite(oversize) or oversize < 1:
        raise ValueError(f"Inverter oversize must be at least 1 (rating ≥ PV peak), not {oversize}.")
    if len(phase_shares) != 3 or any(s < 0 for s in phase_shares) or sum(phase_shares) <= 0:
        raise ValueError(f"Phase shares must be three non-negative numbers, not {phase_shares}.")


def _units_per_phase(count: int, shares: tuple[float, ...]) -> dict[int, int]:
    """Largest-remainder split of `count` over phases 1/2/3 by `shares` (ties to the lower phase)."""
    total = sum(shares)
    exact = [count * s / total for s in shares]
    n = [math.floor(x) for x in exact]
    by_remainder = sorted(range(3), key=lambda k: (n[k] - exact[k], k))
    for k in by_remainder[: count - sum(n)]:
        n[k] += 1
    return {k + 1: n[k] for k in range(3)}
