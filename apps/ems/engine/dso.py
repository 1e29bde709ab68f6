"""What the EMS knows of a distribution system operator (DSO): one interface at a transmission load bus.

A DSO is seen only through its interface — the bus, a count of identical feeders behind it, and per
feeder the reactive-power capability it reported for the interval (the aggregated var capability
curve of seed 004 §III at the interval's headroom), its base P/Q, and the PV curtailment and demand
response it could give as last resorts. Never DER objects. Framework-free: no Django here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Seed 004 §VI-B: IEEE 37-bus feeders aggregated 22, 32 and 25 times at case9 buses 5, 7 and 9.
SEED_004_FEEDERS: tuple[tuple[int, int], ...] = ((5, 22), (7, 32), (9, 25))
SEED_004_Q_KVAR = 700.0  # per-feeder capability; 32 × 0.7 ≈ the 22 Mvar of seed 004 §VI-A at bus 7
_NUMBER = r"([-+]?[\d.]+(?:[eE][-+]?\d+)?)"
_DSO = re.compile(rf"^\s*(\d+)\s*[x×*]\s*(\d+)\s*:\s*{_NUMBER}\s*:\s*{_NUMBER}\s*((?::\s*{_NUMBER}\s*)*)$")
DSO_SYNTAX = "BUS×COUNT:Q_MIN_KVAR:Q_MAX_KVAR[:P_KW:Q_KVAR[:PV_KW[:DR_KW]]]"


@dataclass(frozen=True)
class DsoInterface:
    """One interface. Per feeder: capability [q_min_kvar, q_max_kvar] of reactive power injected into
    the transmission bus; base demand p_kw/q_kvar (None: an equal share of the case's load at the bus);
    curtailable PV pv_kw and demand response dr_kw available."""

    bus: int
    count: int
    q_min_kvar: float
    q_max_kvar: float
    p_kw: float | None = None
    q_kvar: float | None = None
    pv_kw: float = 0.0
    dr_kw: float = 0.0

    def label(self) -> str:
        return f"DSO at bus {self.bus} ({self.count} feeders)"

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "bus": self.bus,
            "count": self.count,
            "q_min_kvar": self.q_min_kvar,
            "q_max_kvar": self.q_max_kvar,
            "p_kw": self.p_kw,
            "q_kvar": self.q_kvar,
            "pv_kw": self.pv_kw,
            "dr_kw": self.dr_kw,
        }


def check_dso(dso: DsoInterface) -> None:
    """``ValueError`` in an operator's words for an interface no OPF can use."""
    numbers = [dso.q_min_kvar, dso.q_max_kvar, dso.pv_kw, dso.dr_kw]
    numbers += [v for v in (dso.p_kw, dso.q_kvar) if v is not None]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{dso.label()}: every value must be a finite number.")
    if dso.count < 1:
        raise ValueError(f"DSO at bus {dso.bus}: the feeder count must be at least 1, not {dso.count}.")
    if dso.q_min_kvar > dso.q_max_kvar:
        raise ValueError(
            f"{dso.label()}: the capability's q_min ({dso.q_min_kvar:g} kvar) is above its q_max "
            f"({dso.q_max_kvar:g} kvar)."
        )
    if dso.pv_kw < 0 or dso.dr_kw < 0:
        raise ValueError(f"{dso.label()}: curtailable PV and demand response cannot be negative.")


def check_dsos(dsos: Sequence[DsoInterface], bus_numbers: set[int], case: str) -> None:
    for dso in dsos:
        check_dso(dso)
        if dso.bus not in bus_numbers:
            raise ValueError(
                f"{dso.label()}: bus {dso.bus} does not exist in {case} "
                f"(buses {min(bus_numbers)}–{max(bus_numbers)})."
            )


def parse_dso(text: str) -> DsoInterface:
    """``9x25:-700:700`` or ``9x25:-700:700:3600:1200:500:200`` → ``DsoInterface``."""
    match = _DSO.match(text)
    if match is not None:
        extra = [float(v) for v in match.group(5).split(":") if v.strip()]
        if len(extra) in (0, 2, 3, 4):
            p_kw, q_kvar = (extra[0], extra[1]) if extra else (None, None)
            return DsoInterface(
                bus=int(match.group(1)),
                count=int(match.group(2)),
                q_min_kvar=float(match.group(3)),
                q_max_kvar=float(match.group(4)),
                p_kw=p_kw,
                q_kvar=q_kvar,
                pv_kw=extra[2] if len(extra) > 2 else 0.0,
                dr_kw=extra[3] if len(extra) > 3 else 0.0,
            )
    raise ValueError(f"Bad DSO interface {text!r}: write {DSO_SYNTAX}, e.g. 9x25:-700:700.")


def seed_004_dsos(q_kvar: float = SEED_004_Q_KVAR) -> list[DsoInterface]:
    """The T-D system of seed 004 §VI-B with a symmetric per-feeder capability of ±q_kvar."""
    return [DsoInterface(bus, count, -q_kvar, q_kvar) for bus, count in SEED_004_FEEDERS]
