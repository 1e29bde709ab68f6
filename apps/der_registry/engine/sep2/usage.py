"""The Metering function set: what devices post to their mirrors, served back as a series.

2030.5 pairs every MirrorUsagePoint with a UsagePoint that other clients read (§ Metering Mirror:
"the server makes the mirrored data available through the Metering function set"). Here each mirror
is UsagePoint `/upt/{mirror}`, each MirrorMeterReading a MeterReading `/upt/{mirror}/mr/{index}`,
and the readings kept (READINGS_KEPT_S) are grouped into one ReadingSet per UTC hour."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from apps.der_registry.engine.sep2.mirror import (
    HOUR_S,
    MeterReadingView,
    MirrorView,
    ReadingSetView,
    ReadingValue,
    reading_element,
    reading_type_element,
    usage_point_fields,
)
from apps.der_registry.engine.sep2.resources import mrid
from apps.der_registry.engine.sep2.xmlcodec import element, leaf, link

UPT_LIST = "/upt"
KIND_READING_SET = 7  # the mRID kind of the ReadingSets this server mints (resources.mrid)


def upt(mup_id: int) -> str:
    return f"{UPT_LIST}/{mup_id}"


def meter_reading_href(mup_id: int, index: int) -> str:
    return f"{upt(mup_id)}/mr/{index}"


def reading_set_href(mup_id: int, index: int, hour: int) -> str:
    return f"{meter_reading_href(mup_id, index)}/rs/{hour}"


def _list(tag: str, href: str, total: int, items: Sequence[ET.Element]) -> ET.Element:
    return element(tag, {"all": str(total), "href": href, "results": str(len(items))}, items)


def usage_point(view: MirrorView) -> ET.Element:
    """The mirror as other clients see it: same mRID, roles and status, and its meter readings."""
    return element(
        "UsagePoint",
        {"href": upt(view.mup_id)},
        [
            *usage_point_fields(view),
            link("MeterReadingListLink", f"{upt(view.mup_id)}/mr", len(view.meter_readings)),
        ],
    )


def usage_point_list(views: Sequence[MirrorView], total: int, poll_s: int) -> ET.Element:
    """mRID descending, as the mirrors are. Only the function set's top list carries pollRate."""
    doc = _list("UsagePointList", UPT_LIST, total, [usage_point(v) for v in views])
    doc.set("pollRate", str(poll_s))
    return doc


def meter_reading(mup_id: int, mr: MeterReadingView) -> ET.Element:
    href = meter_reading_href(mup_id, mr.index)
    return element(
        "MeterReading",
        {"href": href},
        [
            leaf("mRID", mr.mrid),
            leaf("description", mr.description[:32] or None),
            None if mr.last_value is None else link("ReadingLink", f"{href}/r"),
            link("ReadingSetListLink", f"{href}/rs"),
            link("ReadingTypeLink", f"{href}/rt"),
        ],
    )


def meter_reading_list(view: MirrorView, items: Sequence[MeterReadingView]) -> ET.Element:
    """mRID descending."""
    docs = [meter_reading(view.mup_id, mr) for mr in items]
    return _list("MeterReadingList", f"{upt(view.mup_id)}/mr", len(view.meter_readings), docs)


def ordered_meter_readings(view: MirrorView) -> list[MeterReadingView]:
    return sorted(view.meter_readings, key=lambda mr: mr.mrid.upper(), reverse=True)


def reading_type(mup_id: int, mr: MeterReadingView) -> ET.Element:
    doc = reading_type_element(mr.reading_type)
    doc.set("href", f"{meter_reading_href(mup_id, mr.index)}/rt")
    return doc


def latest_reading(mup_id: int, mr: MeterReadingView) -> ET.Element:
    """The newest value the device posted (MeterReading's ReadingLink)."""
    doc = reading_element(ReadingValue(int(mr.last_value or 0), mr.last_update_s))
    doc.set("href", f"{meter_reading_href(mup_id, mr.index)}/r")
    return doc


def reading_set(mup_id: int, index: int, rset: ReadingSetView) -> ET.Element:
    href = reading_set_href(mup_id, index, rset.hour)
    number = (mup_id << 48) | (index << 32) | rset.hour
    return element(
        "ReadingSet",
        {"href": href},
        [
            leaf("mRID", mrid(KIND_READING_SET, number)),
            leaf("description", f"hour from {rset.start_s}"),
            element("timePeriod", children=[leaf("duration", HOUR_S), leaf("start", rset.start_s)]),
            link("ReadingListLink", f"{href}/r", rset.count),
        ],
    )


def ordered_reading_sets(sets: Sequence[ReadingSetView]) -> list[ReadingSetView]:
    """timePeriod.start descending: the newest hour first."""
    return sorted(sets, key=lambda s: s.hour, reverse=True)


def reading_set_list(mup_id: int, index: int, items: Sequence[ReadingSetView], total: int) -> ET.Element:
    docs = [reading_set(mup_id, index, s) for s in items]
    return _list("ReadingSetList", f"{meter_reading_href(mup_id, index)}/rs", total, docs)


def series_reading(start_s: int, reading: ReadingValue) -> ET.Element:
    """A Reading of a ReadingSet; localID (seconds into the hour) orders the list."""
    doc = reading_element(reading)
    doc.append(element("localID"))
    doc[-1].text = f"{(reading.t_s or start_s) - start_s:04X}"
    return doc


def reading_list(
    mup_id: int, index: int, rset: ReadingSetView, items: Sequence[ReadingValue], total: int
) -> ET.Element:
    """localID ascending: oldest first within the hour."""
    docs = [series_reading(rset.start_s, r) for r in items]
    return _list("ReadingList", f"{reading_set_href(mup_id, index, rset.hour)}/r", total, docs)
