"""The Metering Mirror function set: MirrorUsagePoint / MirrorMeterReading documents decoded to plain
records and encoded back in sep.xsd order, and readings (W, var, V, Hz) turned into the registry's
monitoring values (kW, kvar, pu, Hz) with the registry's sign convention."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apps.der_registry.engine.sep2.xmlcodec import SepXmlError, element, integer, leaf, parse, q, text

MUP_LIST = "/mup"
# ReadingType.uom → (monitoring field, unit as the operator reads it).
UOM_FIELDS = {38: ("p_kw", "W"), 63: ("q_kvar", "var"), 29: ("v_pu", "V"), 33: ("f_hz", "Hz")}
# flowDirection: 1 = forward (delivered to the customer), 19 = reverse (received from the customer).
FLOW_FORWARD, FLOW_REVERSE = 1, 19
# qualityFlags bits that make a reading less than good: estimated (2, 3), questionable (4), projected (6).
QUESTIONABLE_BITS = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6)
MAX_READINGS = 64  # readings one POST may carry
HOUR_S = 3600
READINGS_KEPT_S = 24 * HOUR_S  # every posted reading, any unit, is kept this long and served back (`usage`)


class MeteringError(ValueError):
    """Readings the registry cannot take; the text says why in an operator's words."""


@dataclass(frozen=True)
class ReadingType:
    uom: int
    power_of_ten: int = 0
    flow_direction: int = 0
    phase: int = 0


@dataclass(frozen=True)
class ReadingValue:
    value: int
    t_s: int | None = None  # timePeriod.start, epoch seconds
    quality_flags: int = 0


@dataclass(frozen=True)
class MeterReadingPost:
    mrid: str
    description: str = ""
    reading_type: ReadingType | None = None
    readings: tuple[ReadingValue, ...] = ()
    last_update_s: int | None = None


@dataclass(frozen=True)
class MirrorPost:
    mrid: str
    device_lfdi: str
    role_flags: int = 0x49  # isMirror, isDER, isSubmeter
    service_category: int = 0  # electricity
    status: int = 1  # on
    description: str = ""
    post_rate: int | None = None
    meter_readings: tuple[MeterReadingPost, ...] = ()


@dataclass(frozen=True)
class MeterReadingView:
    mrid: str
    description: str
    reading_type: ReadingType
    last_update_s: int | None = None
    last_value: int | None = None
    index: int = 0  # its MeterReading's number under the mirror's UsagePoint (`usage`), kept for life


@dataclass(frozen=True)
class MirrorView:
    mup_id: int
    mrid: str
    device_lfdi: str
    role_flags: int
    service_category: int
    status: int
    description: str = ""
    post_rate: int | None = None
    meter_readings: tuple[MeterReadingView, ...] = ()


@dataclass(frozen=True)
class ReadingSetView:
    """The kept readings of one MirrorMeterReading within one UTC hour: a ReadingSet (`usage`)."""

    hour: int  # hours since the epoch: the ReadingSet's number in its href
    count: int

    @property
    def start_s(self) -> int:
        return self.hour * HOUR_S


def mup(mup_id: int) -> str:
    return f"{MUP_LIST}/{mup_id}"


# --- decoding ----------------------------------------------------------------------------------


def _reading_type(node: Any) -> ReadingType | None:
    if node is None:
        return None
    uom = integer(node, "uom")
    if uom is None:
        raise SepXmlError(
            "A ReadingType has no uom; say what the readings measure (38 W, 63 var, 29 V, 33 Hz)."
        )
    return ReadingType(
        uom,
        integer(node, "powerOfTenMultiplier") or 0,
        integer(node, "flowDirection") or 0,
        integer(node, "phase") or 0,
    )


def _reading(node: Any, set_start: int | None) -> ReadingValue | None:
    value = integer(node, "value")
    if value is None:
        return None
    period = node.find(q("timePeriod"))
    start = integer(period, "start") if period is not None else set_start
    flags = text(node, "qualityFlags")
    return ReadingValue(value, start, int(flags, 16) if flags else 0)


def _meter_reading(node: Any) -> MeterReadingPost:
    values = [_reading(node.find(q("Reading")), None)] if node.find(q("Reading")) is not None else []
    for rset in node.findall(q("MirrorReadingSet")):
        start = integer(rset.find(q("timePeriod")), "start")
        values += [_reading(r, start) for r in rset.findall(q("Reading"))]
    return MeterReadingPost(
        mrid=str(text(node, "mRID")).upper(),
        description=text(node, "description") or "",
        reading_type=_reading_type(node.find(q("ReadingType"))),
        readings=tuple(v for v in values if v is not None),
        last_update_s=integer(node, "lastUpdateTime"),
    )


def _checked(readings: list[MeterReadingPost]) -> tuple[MeterReadingPost, ...]:
    if sum(len(m.readings) for m in readings) > MAX_READINGS:
        raise SepXmlError(f"Send at most {MAX_READINGS} readings in one request.")
    if len({m.mrid for m in readings}) != len(readings):
        raise SepXmlError("Two MirrorMeterReadings in the document have the same mRID.")
    return tuple(readings)


def decode_mirror(body: bytes) -> MirrorPost:
    root = parse(body, ("MirrorUsagePoint",))
    return MirrorPost(
        mrid=str(text(root, "mRID")).upper(),
        device_lfdi=str(text(root, "deviceLFDI")).upper(),
        role_flags=int(str(text(root, "roleFlags")), 16),
        service_category=int(str(integer(root, "serviceCategoryKind"))),
        status=int(str(integer(root, "status"))),
        description=text(root, "description") or "",
        post_rate=integer(root, "postRate"),
        meter_readings=_checked([_meter_reading(m) for m in root.findall(q("MirrorMeterReading"))]),
    )


def decode_meter_readings(body: bytes) -> tuple[MeterReadingPost, ...]:
    """A POST to /mup/{id}: one MirrorMeterReading or a MirrorMeterReadingList."""
    root = parse(body, ("MirrorMeterReading", "MirrorMeterReadingList"))
    if root.tag == q("MirrorMeterReading"):
        return _checked([_meter_reading(root)])
    return _checked([_meter_reading(m) for m in root.findall(q("MirrorMeterReading"))])


# --- encoding ----------------------------------------------------------------------------------


def reading_type_element(rt: ReadingType) -> ET.Element:
    return element(
        "ReadingType",
        children=[
            leaf("flowDirection", rt.flow_direction or None),
            leaf("phase", rt.phase or None),
            leaf("powerOfTenMultiplier", rt.power_of_ten),
            leaf("uom", rt.uom),
        ],
    )


def reading_element(reading: ReadingValue) -> ET.Element:
    period = None
    if reading.t_s is not None:
        period = element("timePeriod", children=[leaf("duration", 0), leaf("start", reading.t_s)])
    return element(
        "Reading",
        {},
        [leaf("qualityFlags", f"{reading.quality_flags:04X}"), period, leaf("value", reading.value)],
    )


def meter_reading_element(mr: MeterReadingPost | MeterReadingView) -> ET.Element:
    rt: ReadingType | None = mr.reading_type
    if isinstance(mr, MeterReadingView):
        last = None if mr.last_value is None else ReadingValue(mr.last_value, mr.last_update_s)
        readings = [last] if last else []
    else:
        readings = list(mr.readings[-1:])  # one Reading; a MirrorReadingSet is not sent
    updated = mr.last_update_s
    return element(
        "MirrorMeterReading",
        {},
        [
            leaf("mRID", mr.mrid),
            leaf("description", mr.description[:32] or None),
            leaf("lastUpdateTime", updated),
            *(reading_element(r) for r in readings),
            None if rt is None else reading_type_element(rt),
        ],
    )


def usage_point_fields(view: MirrorView | MirrorPost) -> list[ET.Element | None]:
    """UsagePointBase and deviceLFDI: what a MirrorUsagePoint and its UsagePoint (`usage`) share."""
    return [
        leaf("mRID", view.mrid),
        leaf("description", view.description[:32] or None),
        leaf("roleFlags", f"{view.role_flags:04X}"),
        leaf("serviceCategoryKind", view.service_category),
        leaf("status", view.status),
        leaf("deviceLFDI", view.device_lfdi),
    ]


def mirror_element(view: MirrorView | MirrorPost) -> ET.Element:
    attrs = {"href": mup(view.mup_id)} if isinstance(view, MirrorView) else {}
    return element(
        "MirrorUsagePoint",
        attrs,
        [
            *usage_point_fields(view),
            *(meter_reading_element(m) for m in view.meter_readings),
            leaf("postRate", view.post_rate),
        ],
    )


def mirror_list(views: Sequence[MirrorView], total: int, poll_s: int) -> ET.Element:
    attrs = {"all": str(total), "href": MUP_LIST, "results": str(len(views)), "pollRate": str(poll_s)}
    return element("MirrorUsagePointList", attrs, [mirror_element(v) for v in views])


def meter_reading_list(readings: Sequence[MeterReadingPost]) -> ET.Element:
    attrs = {"all": str(len(readings)), "results": str(len(readings))}
    return element("MirrorMeterReadingList", attrs, [meter_reading_element(m) for m in readings])


# --- readings → monitoring -----------------------------------------------------------------------


def monitored(rt: ReadingType) -> bool:
    """Whether the control room turns this reading into monitoring (W, var, V, Hz). Others — current,
    VA, power factor, energy … — are kept on the mirror and served back, and used for nothing else."""
    return rt.uom in UOM_FIELDS


def check_reading_type(mrid: str, rt: ReadingType) -> None:
    """Refuses a ReadingType that is malformed, or a monitored one the registry cannot read."""
    if not -9 <= rt.power_of_ten <= 9:
        raise MeteringError(f"MirrorMeterReading {mrid}: powerOfTenMultiplier must be between -9 and 9.")
    if rt.uom in (38, 63) and rt.flow_direction not in (FLOW_FORWARD, FLOW_REVERSE):
        raise MeteringError(
            f"MirrorMeterReading {mrid}: a {UOM_FIELDS[rt.uom][1]} reading needs flowDirection 1 "
            "(forward, delivered to the customer) or 19 (reverse, received from the customer)."
        )


def engineering(rt: ReadingType, value: int, v_nominal_v: float | None) -> float:
    """One reading in the registry's units and signs: P and Q positive when injected into the grid."""
    amount = value * 10.0**rt.power_of_ten
    if rt.uom in (38, 63):
        return (amount if rt.flow_direction == FLOW_REVERSE else -amount) / 1000.0
    if rt.uom == 29:
        if not v_nominal_v or not math.isfinite(v_nominal_v) or v_nominal_v <= 0:
            raise MeteringError(
                "The registry has no nominal voltage for this DER, so a voltage in V cannot be turned "
                "into per unit; set the DER's nominal voltage first."
            )
        return amount / v_nominal_v
    return amount


def monitoring_values(
    readings: Sequence[tuple[str, ReadingType, ReadingValue]], v_nominal_v: float | None, now_s: int
) -> list[dict[str, Any]]:
    """Readings (mRID, type, value) grouped into one monitoring sample per reading time: P and Q
    summed over phases, V and f averaged; `t_s` is the reading time, `quality` the worst flag."""
    by_time: dict[int, dict[tuple[str, int], float]] = defaultdict(dict)
    flags: dict[int, int] = defaultdict(int)
    for mrid, rt, reading in readings:
        check_reading_type(mrid, rt)
        if not monitored(rt):
            continue
        t_s = reading.t_s if reading.t_s is not None else now_s
        field = UOM_FIELDS[rt.uom][0]
        if (field, rt.phase) in by_time[t_s]:
            raise MeteringError(
                f"Two {UOM_FIELDS[rt.uom][1]} readings for the same phase and time {t_s}; send one."
            )
        by_time[t_s][(field, rt.phase)] = engineering(rt, reading.value, v_nominal_v)
        flags[t_s] |= reading.quality_flags
    samples = []
    for t_s in sorted(by_time):
        grouped: dict[str, list[float]] = defaultdict(list)
        for (field, _), amount in by_time[t_s].items():
            grouped[field].append(amount)
        values: dict[str, Any] = {
            field: sum(amounts) if field in ("p_kw", "q_kvar") else sum(amounts) / len(amounts)
            for field, amounts in grouped.items()
        }
        values["quality"] = "questionable" if flags[t_s] & QUESTIONABLE_BITS else "good"
        samples.append({"t_s": t_s, **values})
    return samples
