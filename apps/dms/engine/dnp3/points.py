"""Point maps and codecs, free of any DNP3 binding so they can be tested and documented alone.

Analog inputs travel as scaled 32-bit integers (DNP3 g30v1 / g32v1 events): a value in engineering
units is multiplied by the point's `scale` and rounded. An analog output's value is multiplied by its
`scale` too, in its commands (g41, any variation) and in its status (g40 / g42) alike; with scale 1
they carry engineering units. See docs/protocols/dnp3-*.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

INT32_MAX = 2**31 - 1


class Kind(StrEnum):
    ANALOG_INPUT = "AI"
    BINARY_INPUT = "BI"
    ANALOG_OUTPUT = "AO"
    BINARY_OUTPUT = "BO"


@dataclass(frozen=True)
class Point:
    kind: Kind
    index: int
    name: str
    unit: str
    description: str
    scale: float = 1.0  # wire value = engineering value × scale (AO: commands and status alike)
    low: float = -math.inf
    high: float = math.inf
    event_class: int = 1


class CommandRefused(ValueError):
    """An operator-readable reason why an outstation refused a command."""


def encode_analog(point: Point, value: float) -> int:
    """Engineering value → the scaled integer put on the wire."""
    if not math.isfinite(value):
        raise CommandRefused(f"{point.name}: {value} is not a number")
    raw = round(value * point.scale)
    if abs(raw) > INT32_MAX:
        raise CommandRefused(f"{point.name}: {value} {point.unit} does not fit the 32-bit point")
    return int(raw)


def decode_analog(point: Point, raw: float) -> float:
    return float(raw) / point.scale


def check_output(point: Point, value: float) -> float:
    """A commanded value inside the point's range, else the reason it is refused."""
    if not math.isfinite(value):
        raise CommandRefused(f"{point.name}: {value} is not a number")
    if not point.low <= value <= point.high:
        raise CommandRefused(
            f"{point.name}: {value:g} {point.unit} is outside {point.low:g} … {point.high:g} {point.unit}"
        )
    return float(value)


@dataclass(frozen=True)
class PointMap:
    name: str
    points: tuple[Point, ...]

    def by_name(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    def named(self, kind: Kind, name: str) -> Point | None:
        return next((p for p in self.points if p.kind is kind and p.name == name), None)

    def of_kind(self, kind: Kind) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.kind is kind)

    def at(self, kind: Kind, index: int) -> Point | None:
        for p in self.points:
            if p.kind is kind and p.index == index:
                return p
        return None

    def count(self, kind: Kind) -> int:
        return max((p.index + 1 for p in self.of_kind(kind)), default=0)


AI, BI, AO, BO = Kind.ANALOG_INPUT, Kind.BINARY_INPUT, Kind.ANALOG_OUTPUT, Kind.BINARY_OUTPUT

# EMS (master) ↔ DMS (outstation): no standard exists for this link (DESIGN.md §4); requests are
# analog outputs, the DMS's answer and limits analog inputs, its health binary inputs.
EMS_DMS = PointMap(
    "ems-dms",
    (
        # Outputs are scaled so their status, a 32-bit integer (g40v1 / g42v1), keeps the value:
        # range × scale fits 32 bits.
        Point(AO, 0, "q_request_kvar", "kvar", "Reactive power requested at the substation", 1000, -1e6, 1e6),
        Point(AO, 1, "v_set_pu", "pu", "Substation voltage set point", 100000, 0.9, 1.1),
        Point(AO, 2, "pv_curtail_kw", "kW", "PV curtailment requested", 1000, 0.0, 1e6),
        Point(AO, 3, "dr_kw", "kW", "Demand-response requirement", 1000, 0.0, 1e6),
        Point(AO, 4, "interval_id", "-", "Dispatch interval the request belongs to", 1, 0, INT32_MAX),
        Point(AO, 5, "capability_request", "-", "Interval the EMS asks a range for", 1, 1, INT32_MAX),
        Point(AO, 6, "interval_s", "s", "Length of the cycle's interval (0: not given)", 1000, 0, 86400),
        Point(AI, 0, "q_achieved_kvar", "kvar", "Reactive power achieved", 10),
        Point(AI, 1, "q_min_kvar", "kvar", "Next interval's minimum Q", 10),
        Point(AI, 2, "q_max_kvar", "kvar", "Next interval's maximum Q", 10),
        Point(AI, 3, "interval_id", "-", "Interval the answer belongs to", 1),
        # The DMS's own view of the exchange (docs/protocols/dnp3-ems-dms.md, "The DMS's view"):
        # the EMS checks the count against the interface it registered and alarms what was not met.
        Point(AI, 4, "feeder_count", "-", "Identical feeders the DMS models behind the interface", 1),
        Point(AI, 5, "q_received_kvar", "kvar", "Q request as the DMS took it, total drawn", 10),
        Point(AI, 6, "q_received_per_feeder_kvar", "kvar", "Q request per modelled feeder, drawn", 10),
        Point(AI, 7, "q_shortfall_kvar", "kvar", "Q the dispatch fell short of the request, total", 10),
        Point(AI, 8, "shortfall_cause", "-", "Cause of the shortfall (SHORTFALL_CAUSES code)", 1),
        Point(AI, 9, "violations_left", "-", "Node-phase voltage violations left after dispatch", 1),
        # The substation meter (issue #12 item 3): the DSO's operating point, totals over the interface.
        Point(AI, 10, "p_measured_kw", "kW", "Substation P drawn, measured, total", 10),
        Point(AI, 11, "q_measured_kvar", "kvar", "Substation Q drawn, measured, total", 10),
        Point(AI, 12, "v_measured_pu", "pu", "Substation voltage, measured", 10000),
        Point(AI, 13, "measured_at_s", "s", "When the meter read it (Unix time; 0: no fresh reading)", 1),
        Point(AI, 14, "capability_interval_id", "-", "Interval of a range computed on ask", 1),
        Point(BI, 0, "dms_healthy", "-", "DMS healthy"),
        Point(BI, 1, "fallback_active", "-", "DMS runs on the previous interval's inputs"),
    ),
)

# Code of `shortfall_cause` = index here: the causes a dispatch attributes a shortfall to
# (apps/dms/engine/dispatch_report.py, DESIGN.md §9), "not dispatched" when the request was refused or
# the run failed, "other" for a cause this list lacks. Append only: codes are on the wire.
SHORTFALL_CAUSES = (
    "",
    "capability limit",
    "voltage limit",
    "DER unavailable",
    "communication failure",
    "interlock",
    "not dispatched",
    "other",
)


def shortfall_cause_code(cause: str) -> int:
    """A dispatch's cause ("voltage limit", "voltage_limit", "Voltage limit") → its wire code."""
    wanted = cause.strip().replace("_", " ").lower()
    for code, name in enumerate(SHORTFALL_CAUSES):
        if name.lower() == wanted:
            return code
    return SHORTFALL_CAUSES.index("other")


def shortfall_cause_name(code: float) -> str:
    i = round(code)
    return SHORTFALL_CAUSES[i] if 0 <= i < len(SHORTFALL_CAUSES) else "other"


# DMS (master) ↔ utility DER (outstation), after the IEEE 1815.2 / IEEE 1547 DNP3 DER profile's
# point names (AI: WTot/VArTot/VLL/Hz, operating state, connection status; AO: WMaxLim, VArSet).
DER = PointMap(
    "dms-der",
    (
        Point(AI, 0, "p_kw", "kW", "Active power (DER profile: WTot)", 1000),
        Point(AI, 1, "q_kvar", "kvar", "Reactive power, injected positive (VArTot)", 1000),
        Point(AI, 2, "v_pu", "pu", "Voltage at the point of connection (VLL / nominal)", 10000),
        Point(AI, 3, "f_hz", "Hz", "Frequency (Hz)", 1000),
        Point(AI, 4, "operating_state", "-", "Operating state: 0 off, 1 on, 2 standby, 3 fault", 1),
        Point(AI, 5, "p_limit_kw", "kW", "Active power limit in force (WMaxLim)", 1000),
        Point(AI, 6, "q_set_kvar", "kvar", "Reactive power set point in force (VArSet)", 1000),
        Point(BI, 0, "connected", "-", "Connection status: connected to the grid"),
        Point(BI, 1, "p_limit_enabled", "-", "Active power limit mode enabled"),
        Point(BI, 2, "q_set_enabled", "-", "Constant reactive power mode enabled"),
        Point(AO, 0, "p_limit_kw", "kW", "Active power limit set point (WMaxLim)", 1, 0.0, 1e6),
        Point(AO, 1, "q_set_kvar", "kvar", "Reactive power set point (VArSet)", 1, -1e6, 1e6),
        Point(BO, 0, "p_limit_enable", "-", "Enable/disable the active power limit (LATCH_ON/OFF)"),
        Point(BO, 1, "q_set_enable", "-", "Enable/disable constant reactive power (LATCH_ON/OFF)"),
    ),
)

# DMS (master) ↔ substation RTU (outstation), one per feeder: what the feeder-head meter and the
# tap changer's controller read, and the controller's voltage set point, the one output
# (docs/protocols/dnp3-substation-rtu.md).
SUBSTATION_RTU = PointMap(
    "substation-rtu",
    (
        Point(AI, 0, "p_kw", "kW", "Feeder-head active power drawn from the transmission side", 10),
        Point(AI, 1, "q_kvar", "kvar", "Feeder-head reactive power drawn", 10),
        Point(AI, 2, "v_pu", "pu", "Voltage at the substation bus, mean of the phases", 10000),
        Point(AI, 3, "tap", "-", "Tap position of the substation tap changer (−16 … +16)", 1),
        Point(AI, 4, "v_min_pu", "pu", "Lowest feeder voltage the RTU's line sensors report", 10000),
        Point(AI, 5, "v_max_pu", "pu", "Highest feeder voltage the RTU's line sensors report", 10000),
        Point(AI, 6, "v_set_pu", "pu", "Tap changer controller's voltage set point in force", 10000),
        Point(BI, 0, "breaker_closed", "-", "Feeder breaker closed"),
        Point(AO, 0, "v_set_pu", "pu", "Tap changer controller's voltage set point", 1, 0.9, 1.1),
    ),
)

OPERATING_STATES = ("off", "on", "standby", "fault")


def operating_state_name(code: float) -> str:
    i = round(code)
    return OPERATING_STATES[i] if 0 <= i < len(OPERATING_STATES) else "unknown"


@dataclass(frozen=True)
class DERLimits:
    """The ratings a DER outstation enforces on its own set points (engineering units)."""

    p_max_kw: float
    q_inj_max_kvar: float
    q_abs_max_kvar: float
    s_max_kva: float

    def check(self, name: str, value: float) -> float:
        if name == "p_limit_kw":
            return check_output(Point(AO, 0, name, "kW", "", 1, 0.0, self.p_max_kw), value)
        if name == "q_set_kvar":
            return check_output(
                Point(AO, 1, name, "kvar", "", 1, -self.q_abs_max_kvar, self.q_inj_max_kvar), value
            )
        raise CommandRefused(f"{name} is not a set point of this DER")

    def held_p(self, p_kw: float) -> float:
        """A P held within the unit's rating (0 … P max): what an inverter that clamps delivers."""
        return min(max(p_kw, 0.0), self.p_max_kw)

    def held_q(self, q_kvar: float) -> float:
        """A Q held within the unit's ratings (−Q abs max … +Q inj max)."""
        return min(max(q_kvar, -self.q_abs_max_kvar), self.q_inj_max_kvar)
