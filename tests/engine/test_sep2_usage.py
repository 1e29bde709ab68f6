"""The Metering function set (issue #16 item 4): what a device posts to its mirror is served back as
UsagePoint → MeterReading → ReadingSet (one per UTC hour) → Reading. Every document validates against
IEEE's schemas of both editions (the independent reference); orders and links are the standard's."""

from __future__ import annotations

import pytest
from lxml import etree

from apps.der_registry.engine.sep2 import mirror as mup
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2 import usage
from apps.der_registry.engine.sep2.editions import NS_2018
from apps.der_registry.engine.sep2.mirror import ReadingSetView, ReadingType, ReadingValue
from apps.der_registry.engine.sep2.xmlcodec import in_namespace, q, schema_problem, to_bytes

LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
HOUR = 494_444  # 2026-05-28 20:00 UTC, in hours since the epoch
T = HOUR * mup.HOUR_S
AMPS = ReadingType(5, -1)  # a unit the control room does not use: kept and served all the same
WATTS = ReadingType(38, 0, mup.FLOW_REVERSE)


def view() -> mup.MirrorView:
    readings = (
        mup.MeterReadingView("0A" * 16, "P", WATTS, T + 60, 4200, index=0),
        mup.MeterReadingView("0B" * 16, "I", AMPS, None, None, index=1),
    )
    return mup.MirrorView(5, "0C" * 16, LFDI, 0x49, 0, 1, "inverter", 60, readings)


def documents() -> dict[str, bytes]:
    v = view()
    rset = ReadingSetView(HOUR, 2)
    series = [ReadingValue(4100, T + 5), ReadingValue(4200, T + 60, 1 << 4)]
    docs = {
        "DeviceCapability": res.device_capability(60, 1, 1),
        "UsagePointList": usage.usage_point_list([v], 1, 60),
        "empty UsagePointList": usage.usage_point_list([], 0, 60),
        "UsagePoint": usage.usage_point(v),
        "MeterReadingList": usage.meter_reading_list(v, usage.ordered_meter_readings(v)),
        "MeterReading with a reading": usage.meter_reading(5, v.meter_readings[0]),
        "MeterReading without": usage.meter_reading(5, v.meter_readings[1]),
        "ReadingType": usage.reading_type(5, v.meter_readings[1]),
        "Reading (latest)": usage.latest_reading(5, v.meter_readings[0]),
        "ReadingSetList": usage.reading_set_list(5, 0, [rset, ReadingSetView(HOUR - 1, 9)], 2),
        "ReadingSet": usage.reading_set(5, 0, rset),
        "ReadingList": usage.reading_list(5, 0, rset, series, 2),
    }
    return {name: to_bytes(doc) for name, doc in docs.items()}


@pytest.mark.parametrize("name", list(documents()))
def test_every_metering_document_is_valid_in_both_editions(name: str) -> None:
    body = documents()[name]
    assert schema_problem(body) == "", (name, schema_problem(body))
    assert schema_problem(in_namespace(body, NS_2018)) == "", name


def test_device_capability_links_the_usage_points_in_the_standard_s_order() -> None:
    dcap = res.device_capability(60, 1, 3)
    tags = [etree.QName(child.tag).localname for child in dcap]
    assert tags.index("TimeLink") < tags.index("UsagePointListLink") < tags.index("EndDeviceListLink")
    link = dcap.find(q("UsagePointListLink"))
    assert link is not None and link.attrib == {"all": "3", "href": "/upt"}


def test_a_usage_point_is_its_mirror_seen_from_the_metering_side() -> None:
    doc = usage.usage_point(view())
    assert doc.attrib["href"] == "/upt/5"
    assert doc.findtext(q("mRID")) == "0C" * 16 and doc.findtext(q("deviceLFDI")) == LFDI
    mrl = doc.find(q("MeterReadingListLink"))
    assert mrl is not None and mrl.attrib == {"all": "2", "href": "/upt/5/mr"}


def test_meter_readings_list_by_mrid_descending_and_link_only_what_exists() -> None:
    v = view()
    assert [mr.mrid for mr in usage.ordered_meter_readings(v)] == ["0B" * 16, "0A" * 16]
    with_value = usage.meter_reading(5, v.meter_readings[0])
    assert with_value.attrib["href"] == "/upt/5/mr/0"
    assert with_value.find(q("ReadingLink")).attrib["href"] == "/upt/5/mr/0/r"  # type: ignore[union-attr]
    assert with_value.find(q("ReadingSetListLink")).attrib["href"] == "/upt/5/mr/0/rs"  # type: ignore[union-attr]
    assert with_value.find(q("ReadingTypeLink")).attrib["href"] == "/upt/5/mr/0/rt"  # type: ignore[union-attr]
    assert usage.meter_reading(5, v.meter_readings[1]).find(q("ReadingLink")) is None  # nothing posted yet


def test_reading_sets_are_hours_newest_first_and_readings_are_numbered_within_their_hour() -> None:
    sets = usage.ordered_reading_sets([ReadingSetView(HOUR - 2, 1), ReadingSetView(HOUR, 3)])
    assert [s.hour for s in sets] == [HOUR, HOUR - 2]
    rset = usage.reading_set(5, 1, ReadingSetView(HOUR, 3))
    assert rset.attrib["href"] == f"/upt/5/mr/1/rs/{HOUR}"
    assert rset.findtext(q("timePeriod") + "/" + q("start")) == str(T)
    assert rset.findtext(q("timePeriod") + "/" + q("duration")) == "3600"
    assert rset.find(q("ReadingListLink")).attrib == {"all": "3", "href": f"/upt/5/mr/1/rs/{HOUR}/r"}  # type: ignore[union-attr]
    mrids = {
        usage.reading_set(m, i, ReadingSetView(h, 1)).findtext(q("mRID"))
        for m in (5, 6)
        for i in (0, 1)
        for h in (HOUR, HOUR + 1)
    }
    assert len(mrids) == 8  # every ReadingSet has an mRID of its own
    readings = usage.reading_list(
        5, 1, ReadingSetView(HOUR, 2), [ReadingValue(7, T + 5), ReadingValue(9, T + 3599)], 2
    )
    assert [r.findtext(q("localID")) for r in readings] == ["0005", "0E0F"]
    assert [r.findtext(q("value")) for r in readings] == ["7", "9"]
