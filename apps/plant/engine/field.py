"""The plant's devices as the control room reaches them: the inverter behind a DNP3 DER outstation,
the device behind an IEEE 2030.5 client, the meter behind a substation RTU. Each reads the plant's
last true state and hands the set points it accepted to the plant; none knows anything else.

A set point beyond the inverter's rating is not refused: the inverter clamps it to the rating, as
inverters do, and its readings (the set point in force and the measured Q) show the limit — the
control room learns what it got from its measurements (docs/protocols/dnp3-dms-der.md)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from apps.der_registry.engine.sep2.following import Following
from apps.der_registry.engine.sep2.simulator import SERVICE_V
from apps.dms.engine.dnp3.der_maps import DER_MAPS, DerMap
from apps.dms.engine.dnp3.inverter import der_readings
from apps.dms.engine.dnp3.points import AO, BO, CommandRefused, Point
from apps.plant.engine.feeder import DerCommand, DerReading, FeederReading, PlantDER
from apps.standards.dnp3_profile import DEFAULT_POINT_MAP

NOMINAL_F_HZ = 60.0
Apply = Callable[[str, DerCommand], None]


@dataclass
class InverterSettings:
    """The modes and set points in force in one inverter."""

    p_limit_kw: float
    q_set_kvar: float = 0.0
    p_limit_enabled: bool = False
    q_set_enabled: bool = False
    connected: bool = True
    ignores_set_points: bool = False  # a trainer's fault: it answers, then does nothing

    def as_command(self) -> DerCommand:
        return DerCommand(
            self.p_limit_kw if self.p_limit_enabled else None,
            self.q_set_kvar if self.q_set_enabled else 0.0,
            self.connected,
        )


class PlantInverter:
    """One DER's DNP3 face, on the compact map (apps/dms/engine/dnp3/points.py `DER`) or IEEE
    1815.2's (der_maps.py), whose mode is enabled apart from its value."""

    def __init__(self, der: PlantDER, apply: Apply, point_map: DerMap = DER_MAPS[DEFAULT_POINT_MAP]) -> None:
        self.der, self._apply, self.map = der, apply, point_map
        self.settings = InverterSettings(p_limit_kw=der.limits.p_max_kw)
        self._lock = threading.Lock()

    def command(self, point: Point, value: float) -> float:
        """Outstation callback: apply one AO/BO command; the value now in force."""
        if not math.isfinite(value):
            raise CommandRefused(f"{point.name}: {value} is not a number")
        with self._lock:
            s, limits = self.settings, self.der.limits
            # On a map that enables a mode apart (1815.2), a value waits for its enable.
            enables = point.kind is AO and not self.map.enable_for(point.name)
            if point.kind is AO and point.name == "p_limit_kw":
                s.p_limit_kw = limits.held_p(value)
                s.p_limit_enabled, in_force = s.p_limit_enabled or enables, s.p_limit_kw
            elif point.kind is AO and point.name == "q_set_kvar":
                s.q_set_kvar = limits.held_q(value)
                s.q_set_enabled, in_force = s.q_set_enabled or enables, s.q_set_kvar
            elif point.kind is BO:
                flag = "p_limit_enabled" if point.name == "p_limit_enable" else "q_set_enabled"
                setattr(s, flag, bool(value))
                in_force = value
            else:
                raise CommandRefused(f"{point.name} cannot be commanded")
            if not s.ignores_set_points:
                self._apply(self.der.name, s.as_command())
            return in_force

    def trip(self, tripped: bool) -> None:
        with self._lock:
            self.settings.connected = not tripped
            self._apply(self.der.name, self.settings.as_command())

    def measure(self, reading: DerReading | None) -> dict[str, float | bool]:
        p_kw, q_kvar, v_pu = (reading.p_kw, reading.q_kvar, reading.v_pu) if reading else (0.0, 0.0, 1.0)
        return der_readings(p_kw, q_kvar, v_pu, NOMINAL_F_HZ, self.settings, SERVICE_V)


class PlantSep2Grid:
    """What stands behind the plant's 2030.5 devices (apps/der_registry/engine/sep2/simulator.py's
    DeviceField): their readings from the plant, their controls into it. Keyed by LFDI."""

    def __init__(self, ders: dict[str, PlantDER], apply: Apply) -> None:
        self.ders, self._apply = ders, apply
        self.readings: dict[str, DerReading] = {}
        self.ignoring: set[str] = set()  # LFDIs of devices that answer controls and do nothing
        self.tripped: set[str] = set()
        self.unreachable: set[str] = set()  # LFDIs whose network segment is down: they cannot poll
        self.following: dict[str, DerCommand] = {}  # the control each device follows

    def measure(self, lfdi: str) -> dict[str, float] | None:
        der, reading = self.ders.get(lfdi), self.readings.get(lfdi)
        if der is None or reading is None:
            return None
        return {
            "P": reading.p_kw * 1e3,
            "Q": reading.q_kvar * 1e3,
            "V": reading.v_pu * SERVICE_V,
            "f": NOMINAL_F_HZ,
            "Wmax": der.limits.p_max_kw * 1e3,  # what a watt–var curve's P share is of
        }

    def reachable(self, lfdi: str) -> bool:
        return lfdi not in self.unreachable

    def follow(self, lfdi: str, now: Following) -> None:
        der = self.ders.get(lfdi)
        if der is None or lfdi in self.ignoring:
            return
        limits = der.limits
        p_limit = None if now.limit_pct >= 100.0 else max(now.limit_pct, 0.0) / 100.0 * limits.p_max_kw
        if now.target_w is not None:  # opModTargetW: a PV inverter can only hold it from above
            target_kw = min(max(now.target_w / 1e3, 0.0), limits.p_max_kw)
            p_limit = target_kw if p_limit is None else min(p_limit, target_kw)
        q_kvar = 0.0 if now.target_var is None else now.target_var / 1e3
        if now.var_pct is not None:  # opModFixedVar: a share of the var rating that way (setMaxVar)
            share = now.var_pct / 100.0
            q_kvar = share * (limits.q_inj_max_kvar if share >= 0 else limits.q_abs_max_kvar)
        self.following[lfdi] = DerCommand(p_limit, limits.held_q(q_kvar), now.connected)
        if lfdi not in self.tripped:
            self._apply(der.name, self.following[lfdi])

    def trip(self, lfdi: str, tripped: bool) -> None:
        """The device disconnects (or reconnects to the control it follows)."""
        der = self.ders.get(lfdi)
        if der is None:
            return
        if tripped:
            self.tripped.add(lfdi)
        else:
            self.tripped.discard(lfdi)
        command = DerCommand(connected=False) if tripped else self.following.get(lfdi, DerCommand())
        self._apply(der.name, command)


def rtu_values(reading: FeederReading, breaker_closed: bool = True) -> dict[str, float | bool]:
    """A substation RTU's points (docs/protocols/dnp3-substation-rtu.md) from the feeder's state."""
    return {
        "p_kw": reading.p_kw,
        "q_kvar": reading.q_kvar,
        "v_pu": reading.v_pu,
        "tap": float(reading.tap),
        "v_min_pu": reading.v_min_pu,
        "v_max_pu": reading.v_max_pu,
        "v_set_pu": reading.v_set_pu if reading.v_set_pu is not None else reading.v_pu,
        "breaker_closed": breaker_closed,
    }
