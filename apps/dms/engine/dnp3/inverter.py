"""A simulated smart inverter behind a DNP3 outstation: follows its P-limit and Q set points
within its ratings and reports P, Q, V, f the way a field unit would."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Protocol

from apps.der_registry.engine.sep2.simulator import SERVICE_V
from apps.dms.engine.dnp3.der_maps import DER_MAPS, DerMap
from apps.dms.engine.dnp3.points import AO, BO, DER, CommandRefused, DERLimits, Point
from apps.standards.dnp3_profile import DEFAULT_POINT_MAP


@dataclass
class InverterState:
    available_kw: float
    p_limit_kw: float
    q_set_kvar: float = 0.0
    p_limit_enabled: bool = False
    q_set_enabled: bool = False
    connected: bool = True


class SimulatedInverter:
    """The set points are checked against the unit's own ratings (refused → nothing changes)."""

    def __init__(
        self, limits: DERLimits, available_kw: float, seed: int = 0, point_map: DerMap | None = None
    ) -> None:
        self.limits = limits
        self.map = point_map or DER_MAPS[DEFAULT_POINT_MAP]
        self.state = InverterState(available_kw=available_kw, p_limit_kw=limits.p_max_kw)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def command(self, point: Point, value: float) -> float:
        """Outstation callback: apply one AO/BO command, return the value now in force."""
        with self._lock:
            if point.kind is AO:
                accepted = self.limits.check(point.name, value)
                # On a map that enables a mode apart (1815.2), a value waits for its enable.
                enables = not self.map.enable_for(point.name)
                if point.name == "p_limit_kw":
                    self.state.p_limit_kw = accepted
                    self.state.p_limit_enabled = self.state.p_limit_enabled or enables
                else:
                    self.state.q_set_kvar = accepted
                    self.state.q_set_enabled = self.state.q_set_enabled or enables
                return accepted
            if point.kind is BO:
                flag = "p_limit_enabled" if point.name == "p_limit_enable" else "q_set_enabled"
                setattr(self.state, flag, bool(value))
                return value
            raise CommandRefused(f"{point.name} cannot be commanded")

    def output(self) -> tuple[float, float]:
        """P and Q delivered: P curtailed to the limit; Q first, P trimmed to stay inside S (Q priority)."""
        s = self.state
        p = min(s.available_kw, s.p_limit_kw) if s.p_limit_enabled else s.available_kw
        q = s.q_set_kvar if s.q_set_enabled else 0.0
        p = min(p, math.sqrt(max(self.limits.s_max_kva**2 - q * q, 0.0)))
        return (p, q) if s.connected else (0.0, 0.0)

    def measure(self) -> dict[str, float | bool]:
        with self._lock:
            p, q = self.output()
            v = 1.0 + 0.02 * q / max(self.limits.s_max_kva, 1e-9) + self._rng.gauss(0, 0.002)
            return der_readings(p, q, v, 60.0 + self._rng.gauss(0, 0.005), self.state, SERVICE_V)


class Modes(Protocol):
    p_limit_kw: float
    q_set_kvar: float
    p_limit_enabled: bool
    q_set_enabled: bool
    connected: bool


# P below this is "connected and idle" in the 1815.2 operating state bits.
IDLE_KW = 0.01


def der_readings(
    p_kw: float, q_kvar: float, v_pu: float, f_hz: float, s: Modes, v_ref_v: float
) -> dict[str, float | bool]:
    """A DER outstation's inputs from what it delivers and the modes in force, named as on either
    map (the compact `DER` and IEEE 1815.2's, with its line-to-line voltage over a reference and its
    operating state bits); an outstation takes the names its map has."""
    return {
        "v_ref_v": v_ref_v,
        "v_ll_v": v_pu * v_ref_v,
        "connected_generating": s.connected and p_kw >= IDLE_KW,
        "connected_idle": s.connected and p_kw < IDLE_KW,
        "off_available": not s.connected,
        "off_blocked": False,
        "p_kw": p_kw,
        "q_kvar": q_kvar,
        "v_pu": v_pu,
        "f_hz": f_hz,
        "operating_state": 1.0 if s.connected else 0.0,
        "p_limit_kw": s.p_limit_kw,
        "q_set_kvar": s.q_set_kvar,
        "connected": s.connected,
        "p_limit_enabled": s.p_limit_enabled,
        "q_set_enabled": s.q_set_enabled,
    }


POINTS = DER
