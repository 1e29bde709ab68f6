"""The point maps a utility DER may serve, and set points encoded in the analog output variation its
DNP3 device profile says it parses (registry: `dnp3_point_map`, `dnp3_ao_variation`).

An output's value on the wire is its engineering value times the point's `scale` in every variation
(IEEE 1815.2 fixes one multiplier per point whichever variation carries it): the compact map's
outputs travel in kW and kvar, the IEEE 1815.2 map's in W and var. Mapping and the reasons it differs
from the profile: docs/protocols/dnp3-dms-der.md."""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.dms.engine.dnp3.points import AI, AO, BI, BO, DER, CommandRefused, Point, PointMap
from apps.standards.dnp3_profile import AO_VARIATIONS, DEFAULT_AO_VARIATION

# IEEE 1815.2 (MESA-DER) indices for the same quantities as the compact map. Measurements are the
# system meter's (W, var, mHz, 0.1 V); the voltage in pu is the line-to-line average over the
# device's own reference voltage. Set points use the profile's absolute points (W, var), not the
# percentage ones, so they do not depend on a WMax the registry and the device may disagree on.
IEEE1815_2 = PointMap(
    "dms-der-ieee1815.2",
    (
        Point(AI, 29, "v_ref_v", "V", "Reference voltage (DECP.VRef)", 10),
        Point(AI, 536, "f_hz", "Hz", "Frequency (SYS.MMXU.Hz)", 1000),
        Point(AI, 537, "p_kw", "kW", "Active power, W on the wire (SYS.MMXU.TotW)", 1000),
        Point(AI, 541, "q_kvar", "kvar", "Reactive power, var on the wire (SYS.MMXU.TotVAr)", 1000),
        Point(AI, 553, "v_ll_v", "V", "Average line-to-line voltage (SYS.MMXU.AvPPVPhs)", 10),
        Point(AI, 619, "p_limit_kw", "kW", "Active power limit in force (DWMX.WLimSpt)", 1000),
        Point(AI, 621, "q_set_kvar", "kvar", "Constant vars target in force (DVAR.DVar.Tgt)", 1000),
        Point(BI, 18, "connected_idle", "-", "DER is connected and idle (DGEN.DEROpSt)"),
        Point(BI, 19, "connected_generating", "-", "DER is connected and generating (DGEN.DEROpSt)"),
        Point(BI, 21, "off_available", "-", "DER is off but available to start (DGEN.DEROpSt)"),
        Point(BI, 22, "off_blocked", "-", "DER is off and not available to start (DGEN.DEROpSt)"),
        Point(BI, 23, "connected", "-", "Connect/disconnect switch closed (CSWI.Pos)"),
        Point(BI, 69, "p_limit_enabled", "-", "Active power limit mode enabled (DWMX.Mod)"),
        Point(BI, 79, "q_set_enabled", "-", "Constant vars mode enabled (DVAR.Mod)"),
        Point(
            AO, 509, "p_limit_kw", "kW", "Active power limit, W on the wire (DWMX.WLimSpt)", 1000, 0.0, 1e6
        ),
        Point(AO, 511, "q_set_kvar", "kvar", "Constant vars target, var (DVAR.DVar.Tgt)", 1000, -1e6, 1e6),
        Point(BO, 17, "p_limit_enable", "-", "Enable the active power limit mode (DWMX.Mod)"),
        Point(BO, 27, "q_set_enable", "-", "Enable the constant vars mode (DVAR.Mod)"),
    ),
)


@dataclass(frozen=True)
class DerMap:
    """A point map and what a set point takes on it: IEEE 1815.2 separates a mode's value from its
    enable, so each output is followed by a latch-on of its mode once the device confirmed the value;
    the compact map's devices enable the mode with the value."""

    points: PointMap
    enables: tuple[tuple[str, str], ...] = ()  # (analog output, binary output that enables its mode)

    def enable_for(self, output: str) -> str:
        return next((bo for ao, bo in self.enables if ao == output), "")


DER_MAPS: dict[str, DerMap] = {
    "compact": DerMap(DER),
    "ieee1815_2": DerMap(IEEE1815_2, (("p_limit_kw", "p_limit_enable"), ("q_set_kvar", "q_set_enable"))),
}

# Integer variations: (lowest, highest) value on the wire.
_INTEGER_RANGE = {"g41v1": (-(2**31), 2**31 - 1), "g41v2": (-(2**15), 2**15 - 1)}
_FLOAT32_MAX = 3.4028234663852886e38


def encode_setpoint(point: Point, value: float, variation: str = DEFAULT_AO_VARIATION) -> float | int:
    """An analog output's engineering value → the value the variation carries, or why it cannot."""
    if variation not in AO_VARIATIONS:
        raise CommandRefused(f"{variation!r} is not an analog output variation ({', '.join(AO_VARIATIONS)})")
    if not math.isfinite(value):
        raise CommandRefused(f"{point.name}: {value} is not a number")
    wire = value * point.scale
    if variation in _INTEGER_RANGE:
        low, high = _INTEGER_RANGE[variation]
        whole = round(wire)
        if not low <= whole <= high:
            raise CommandRefused(
                f"{point.name}: {value:g} {point.unit} is {whole} on the wire, outside what "
                f"{variation} carries ({low} … {high}); nothing sent"
            )
        return whole
    if variation == "g41v3" and abs(wire) > _FLOAT32_MAX:
        raise CommandRefused(f"{point.name}: {value:g} {point.unit} does not fit g41v3; nothing sent")
    return float(wire)


def v_pu(values: dict[str, float]) -> float | None:
    """Voltage in pu from a 1815.2 device's line-to-line average and its own reference voltage."""
    v_ll, v_ref = values.get("v_ll_v"), values.get("v_ref_v")
    if v_ll is None or not v_ref or v_ref <= 0:
        return None
    return v_ll / v_ref


def operating_state(values: dict[str, float]) -> str | None:
    """The registry's operating state from the 1815.2 DER state bits (None while none is set)."""
    if values.get("connected_generating"):
        return "on"
    if values.get("connected_idle"):
        return "standby"
    if values.get("off_available") or values.get("off_blocked"):
        return "off"
    return None
