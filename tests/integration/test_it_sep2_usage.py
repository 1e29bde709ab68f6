"""The Metering function set on loopback with real TLS against the real registry (issue #16 item 4):
every reading a device posts to its mirror, in any unit, is kept for a day and served back as
UsagePoint → MeterReading → ReadingSet (one per UTC hour) → Reading, valid against sep.xsd. A re-post
of the same time replaces its reading, older readings go, another client sees none of it, and a
deleted mirror takes its series with it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from apps.der_registry.engine.sep2.client import Answer, Sep2Connection
from apps.der_registry.engine.sep2.mirror import HOUR_S, ReadingType
from apps.der_registry.engine.sep2.simulator import mirror_doc, mirror_mrid
from apps.der_registry.engine.sep2.xmlcodec import q
from apps.der_registry.models import Sep2MirrorReading, Sep2MirrorUsagePoint
from tests.integration import test_it_sep2_server as base
from tests.integration.test_it_sep2_metering import post, readings
from tests.integration.test_it_sep2_server import Pki, connect, run, valid_get

pki, server = base.pki, base.server  # the server module's fixtures: certificates, a server on loopback

pytestmark = pytest.mark.django_db(transaction=True)

AMPS = ReadingType(5, -1)  # current, tenths of an ampere: a quantity the control room does not monitor


async def _children(conn: Sep2Connection, path: str, tag: str) -> list[Any]:
    return (await valid_get(conn, f"{path}?l=50")).doc().findall(q(tag))


async def _series(conn: Sep2Connection, mr_href: str) -> dict[str, list[tuple[str, str]]]:
    """Each ReadingSet's start → its readings as (localID, value), walked by the links served."""
    mr = (await valid_get(conn, mr_href)).doc()
    series = {}
    for rset in await _children(conn, mr.find(q("ReadingSetListLink")).attrib["href"], "ReadingSet"):
        found = await _children(conn, rset.find(q("ReadingListLink")).attrib["href"], "Reading")
        start = rset.findtext(f"{q('timePeriod')}/{q('start')}")
        series[start] = [(r.findtext(q("localID")), r.findtext(q("value"))) for r in found]
    return series


def test_it_serves_back_every_reading_a_device_posted_as_a_series(
    server: str, pki: Pki, enrolled: Any
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    lfdi, now = der.lfdi, int(time.time())
    hour = now // HOUR_S - 2  # two full hours ago
    a, b, c = hour * HOUR_S + 10, hour * HOUR_S + 70, (hour + 1) * HOUR_S + 5

    async def session() -> dict[str, Any]:
        conn, seen = connect(server, pki.ca, pki.device), dict[str, Any]()
        at = (await conn.post("/mup", mirror_doc(lfdi))).headers["location"]
        seen["posts"] = [
            (await post(conn, at, body)).status
            for body in (
                readings(lfdi, (1, None, 3800), t=now - 25 * HOUR_S),  # older than a day: dropped
                readings(lfdi, (1, None, 4000), (7, AMPS, 171), t=a),
                readings(lfdi, (1, None, 4100), (7, None, 175), t=b),
                readings(lfdi, (1, None, 4200), t=c),
                readings(lfdi, (1, None, 4150), t=b),  # the device corrects the reading at b
                readings(lfdi, (1, None, 3900), t=now - 25 * HOUR_S),  # not served (dropped within the hour)
            )
        ]
        dcap = (await valid_get(conn, "/dcap")).doc()
        upts = await _children(conn, dcap.find(q("UsagePointListLink")).attrib["href"], "UsagePoint")
        seen["upts"] = [(u.attrib["href"], u.findtext(q("mRID"))) for u in upts]
        mrs = await _children(conn, upts[0].find(q("MeterReadingListLink")).attrib["href"], "MeterReading")
        by_mrid = {m.findtext(q("mRID")): m.attrib["href"] for m in mrs}
        seen["order"] = [m.findtext(q("mRID")) for m in mrs]
        p_href, amps_href = by_mrid[mirror_mrid(lfdi, 1)], by_mrid[mirror_mrid(lfdi, 7)]
        seen["p"], seen["amps"] = await _series(conn, p_href), await _series(conn, amps_href)
        seen["latest"] = (await valid_get(conn, f"{p_href}/r")).doc().findtext(q("value"))
        seen["amps_type"] = (await valid_get(conn, f"{amps_href}/rt")).doc().findtext(q("uom"))
        seen["no_hour"] = (await conn.get(f"{p_href}/rs/{hour - 5}")).status
        seen["no_reading"] = (await conn.get(f"{upts[0].attrib['href']}/mr/99")).status
        seen["page"] = (await valid_get(conn, f"{p_href}/rs/{hour}/r?s=1&l=1")).doc()
        await conn.close()
        return seen

    seen = run(session())
    mirror = Sep2MirrorUsagePoint.objects.get(der=der)
    assert seen["posts"] == [201] * 6
    assert seen["upts"] == [(f"/upt/{mirror.pk}", mirror.mrid)]
    assert len(seen["order"]) == 5 and seen["order"] == sorted(seen["order"], reverse=True)  # mRID descending
    start, next_start = str(hour * HOUR_S), str((hour + 1) * HOUR_S)
    assert list(seen["p"]) == [next_start, start]  # newest hour first
    assert seen["p"][start] == [("000A", "4000"), ("0046", "4150")]  # seconds into the hour, corrected
    assert seen["p"][next_start] == [("0005", "4200")]
    assert seen["amps"] == {start: [("000A", "171"), ("0046", "175")]}  # kept though not monitored
    assert (seen["latest"], seen["amps_type"]) == ("4200", "5")  # a late correction is not the latest
    assert (seen["no_hour"], seen["no_reading"]) == (404, 404)
    page = seen["page"]
    assert (page.attrib["all"], page.attrib["results"], page.findtext(f"{q('Reading')}/{q('value')}")) == (
        "2",
        "1",
        "4150",
    )
    assert not Sep2MirrorReading.objects.filter(mirror=mirror, value=3800).exists()  # the day-old one went


def test_it_keeps_other_clients_out_and_drops_the_series_with_its_mirror(
    server: str, pki: Pki, enrolled: Any
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    base.aggregator_members(enrolled, pki, "agg-u", "agg-u", "SN-U")
    hour = int(time.time()) // HOUR_S - 1

    async def device_posts() -> str:
        conn = connect(server, pki.ca, pki.device)
        at = (await conn.post("/mup", mirror_doc(der.lfdi))).headers["location"]
        assert (await post(conn, at, readings(der.lfdi, (1, None, 4000), t=hour * HOUR_S))).status == 201
        await conn.close()
        return at

    async def outsider_looks(upt: str) -> list[Answer]:
        conn = connect(server, pki.ca, pki.aggregator)
        paths = ["/upt?l=5", upt, f"{upt}/mr/0", f"{upt}/mr/0/rs", f"{upt}/mr/0/rs/{hour}/r", f"{upt}/mr/0/r"]
        answers = [await conn.get(path) for path in paths]
        await conn.close()
        return answers

    async def device_deletes(at: str, upt: str) -> list[int]:
        conn = connect(server, pki.ca, pki.device)
        codes = [(await conn.request("DELETE", at)).status, (await conn.get(upt)).status]
        await conn.close()
        return codes

    at = run(device_posts())
    upt = at.replace("/mup/", "/upt/")
    listing, *private = run(outsider_looks(upt))
    assert listing.status == 200 and listing.doc().attrib["all"] == "0"
    assert [a.status for a in private] == [404] * 5
    assert all(b"not one of this client's" in a.body or b"no MeterReading" in a.body for a in private)
    assert Sep2MirrorReading.objects.count() == 1
    assert run(device_deletes(at, upt)) == [204, 404]
    assert not Sep2MirrorReading.objects.exists()
