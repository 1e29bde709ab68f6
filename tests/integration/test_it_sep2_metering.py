"""The 2030.5 Metering Mirror on loopback with real TLS against the real registry: a device makes
its MirrorUsagePoint and posts P, Q, V, f readings, which arrive in the monitoring series in the
registry's units and signs; another client's mirror is out of reach; bad readings are refused
with a reason and store nothing; every document validates against sep.xsd."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from typing import Any

import pytest

from apps.der_registry.engine.sep2 import mirror as mup
from apps.der_registry.engine.sep2.client import Answer
from apps.der_registry.engine.sep2.mirror import MeterReadingPost, ReadingType, ReadingValue
from apps.der_registry.engine.sep2.simulator import (
    SimClient,
    SimDevice,
    SimStats,
    der_status_doc,
    follow,
    mirror_doc,
    mirror_mrid,
    register,
)
from apps.der_registry.engine.sep2.xmlcodec import q, to_bytes
from apps.der_registry.models import LatestMonitoring, MonitoringSample, Sep2MirrorUsagePoint
from crest_web.accounts.models import AuditRecord
from tests.conftest import ROOT
from tests.integration import test_it_sep2_server as base
from tests.integration.test_it_sep2_server import Pki, connect, run, valid_get

SAMPLES = ROOT / "tests" / "data" / "sep2"  # documents the EPRI reference client sends

pki, server = base.pki, base.server  # the server module's fixtures: certificates, a server on loopback

pytestmark = pytest.mark.django_db(transaction=True)


def readings(lfdi: str, *items: tuple[int, ReadingType | None, int], t: int | None = None) -> bytes:
    """A MirrorMeterReadingList: (reading number, type or None when the mirror knows it, value)."""
    t = t or int(time.time())
    posts = [
        MeterReadingPost(mirror_mrid(lfdi, n), "", rt, (ReadingValue(value, t),), t) for n, rt, value in items
    ]
    return to_bytes(mup.meter_reading_list(posts))


async def post(conn: Any, path: str, body: bytes) -> Answer:
    return await conn.request("POST", path, body)


def test_it_a_device_mirrors_p_q_v_f_into_the_monitoring_series(server: str, pki: Pki, enrolled: Any) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)  # 240 V nominal, 11 kVA
    lfdi = der.lfdi

    async def session() -> dict[str, Any]:
        conn, seen = connect(server, pki.ca, pki.device), dict[str, Any]()
        seen["dcap"] = (await valid_get(conn, "/dcap")).doc()
        seen["made"] = await conn.post("/mup", mirror_doc(lfdi))
        seen["again"] = await conn.post("/mup", mirror_doc(lfdi))
        at = seen["made"].headers["location"]
        audits = await _audit_count()
        # 4.2 kW and 1.5 kvar received from the customer (injected), 246.0 V, 59.98 Hz.
        body = readings(lfdi, (1, None, 4200), (2, None, 1500), (3, None, 2460), (4, None, 5998))
        seen["readings"] = await post(conn, at, body)
        seen["audits"] = await _audit_count() - audits
        seen["status"] = await conn.put(f"/edev/{der.pk}/der/0/ders", der_status_doc(connected=True))
        seen["list"] = (await valid_get(conn, "/mup?l=5")).doc()
        seen["one"] = (await valid_get(conn, at)).doc()
        await conn.close()
        return seen

    seen = run(session())
    assert seen["dcap"].find(q("MirrorUsagePointListLink")).attrib["href"] == "/mup"
    made, again = seen["made"], seen["again"]
    mirror = Sep2MirrorUsagePoint.objects.get(der=der)
    assert (made.status, made.headers["location"]) == (201, f"/mup/{mirror.pk}")
    assert (again.status, again.headers["location"]) == (200, f"/mup/{mirror.pk}")  # same mRID: same mirror
    assert (seen["readings"].status, seen["readings"].headers["location"], seen["status"].status) == (
        201,
        f"/mup/{mirror.pk}",
        204,
    )
    assert seen["audits"] == 0  # readings are monitoring: they do not flood the audit log
    assert AuditRecord.objects.filter(action="der.sep2_mirror", source="sep2").count() == 1

    sample = MonitoringSample.objects.filter(der=der, p_kw__isnull=False).get()
    assert (sample.p_kw, sample.q_kvar, sample.f_hz) == pytest.approx((4.2, 1.5, 59.98))
    assert sample.v_pu == pytest.approx(246.0 / 240.0)
    assert sample.quality == "good"
    latest = LatestMonitoring.objects.get(der=der)  # the DERStatus after it leaves P, Q, V, f standing
    assert (latest.p_kw, latest.q_kvar, latest.v_pu, latest.f_hz) == pytest.approx(
        (4.2, 1.5, 246.0 / 240.0, 59.98)
    )
    assert (latest.operating_state, latest.connection_status) == ("on", "connected")
    assert seen["list"].attrib["all"] == "1"
    shown = {
        m.findtext(q("description")): m.findtext(f"{q('Reading')}/{q('value')}")
        for m in seen["one"].findall(q("MirrorMeterReading"))
    }
    assert shown == {"P": "4200", "Q": "1500", "V": "2460", "f": "5998"}


def test_it_maps_flow_direction_to_the_registry_sign(server: str, pki: Pki, enrolled: Any) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    delivered_w, delivered_var = ReadingType(38, 0, mup.FLOW_FORWARD), ReadingType(63, -1, mup.FLOW_FORWARD)

    async def session() -> list[int]:
        conn = connect(server, pki.ca, pki.device)
        at = (await conn.post("/mup", mirror_doc(der.lfdi))).headers["location"]
        # A battery charging at 3 kW while absorbing 0.8 kvar: both delivered to the customer.
        answer = await post(conn, at, readings(der.lfdi, (5, delivered_w, 3000), (6, delivered_var, 8000)))
        await conn.close()
        return [answer.status]

    assert run(session()) == [201]
    latest = LatestMonitoring.objects.get(der=der)
    assert (latest.p_kw, latest.q_kvar) == pytest.approx((-3.0, -0.8))


def test_it_keeps_each_client_to_its_own_mirrors(server: str, pki: Pki, enrolled: Any) -> None:
    mine = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    members = base.aggregator_members(enrolled, pki, "agg-m", "agg-m", "SN-M")
    devices = tuple(SimDevice(m.lfdi, m.sfdi) for m in pki.members[:2])
    agg = SimClient(
        pki.aggregator.cert, pki.aggregator.key, pki.aggregator.lfdi, pki.aggregator.sfdi, devices
    )

    async def one_poll() -> SimStats:
        conn, stats = connect(server, pki.ca, pki.aggregator), SimStats()
        states, _ = await register(conn, agg, stats)  # makes each device's mirror
        for state in states:
            await follow(conn, state, stats)  # status, then P, Q, V, f
        await conn.close()
        return stats

    stats = run(one_poll())
    assert (stats.mirrors, stats.readings_posted, stats.readings_refused) == (2, 2, 0)
    for member in members:  # the simulated inverter: 5 kW at 55–75 %, 240 V ± 1–3 %, 60 Hz
        latest = LatestMonitoring.objects.get(der=member)
        assert (latest.p_kw, latest.q_kvar) == (pytest.approx(3.25, abs=0.51), pytest.approx(0.0, abs=0.21))
        assert (latest.v_pu, latest.f_hz) == (pytest.approx(1.01, abs=0.021), pytest.approx(60.0, abs=0.021))
        assert latest.connection_status == "connected"
    theirs = Sep2MirrorUsagePoint.objects.filter(der=members[0]).get()

    async def session() -> list[Answer]:
        conn = connect(server, pki.ca, pki.device)
        answers = [
            await conn.get(f"/mup/{theirs.pk}"),
            await post(conn, f"/mup/{theirs.pk}", readings(members[0].lfdi, (1, None, 100))),
            await conn.request("DELETE", f"/mup/{theirs.pk}"),
            await conn.post("/mup", mirror_doc(members[0].lfdi)),
            await valid_get(conn, "/mup"),
        ]
        await conn.close()
        return answers

    peek, push, drop, claim, listing = run(session())
    assert (peek.status, push.status, drop.status) == (404, 404, 404)
    assert claim.status == 403 and b"not one of this client's devices" in claim.body
    assert listing.doc().attrib["all"] == "0" and not Sep2MirrorUsagePoint.objects.filter(der=mine).exists()
    assert Sep2MirrorUsagePoint.objects.filter(der=members[0]).count() == 1


def test_it_a_device_updates_and_deletes_its_mirror(server: str, pki: Pki, enrolled: Any) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    renamed = mup.decode_mirror(to_bytes(mirror_doc(der.lfdi)))
    other = mup.MirrorPost("CD" * 16, der.lfdi)

    async def session() -> list[int]:
        conn = connect(server, pki.ca, pki.device)
        at = (await conn.post("/mup", mirror_doc(der.lfdi))).headers["location"]
        codes = [
            (
                await conn.put(at, mup.mirror_element(replace(renamed, description="roof PV", post_rate=30)))
            ).status,
            (await conn.put(at, mup.mirror_element(other))).status,
            (await valid_get(conn, at)).status,
            (await conn.request("DELETE", at)).status,
            (await conn.get(at)).status,
        ]
        await conn.close()
        return codes

    assert run(session()) == [204, 400, 200, 204, 404]
    assert not Sep2MirrorUsagePoint.objects.exists()
    trail = AuditRecord.objects.filter(object_id=str(der.pk), action__startswith="der.sep2_mirror")
    assert [(a.action, (a.after or {}).get("description")) for a in trail.order_by("pk")] == [
        ("der.sep2_mirror", "inverter"),
        ("der.sep2_mirror", "roof PV"),
        ("der.sep2_mirror_delete", None),
    ]


BAD = [
    ("W without a direction", [(7, ReadingType(38, 0, 0), 5)], "needs flowDirection 1"),
    ("a frequency of 5 kHz", [(4, None, 500000)], "frequency must be between 40 and 70 Hz"),
    ("10 kV on a 240 V DER", [(3, None, 100000)], "voltage must be between 0 and 2 pu"),
    ("1 MW from an 11 kVA DER", [(1, None, 1000000)], "check the reading's powerOfTenMultiplier"),
    ("a reading without a type", [(9, None, 5)], "is new to this mirror and has no ReadingType"),
    ("one good, one bad", [(1, None, 4000), (4, None, 1)], "frequency must be between"),
]


@pytest.mark.parametrize(("case", "items", "words"), BAD, ids=[b[0] for b in BAD])
def test_it_refuses_bad_readings_with_a_reason_and_stores_nothing(
    server: str, pki: Pki, enrolled: Any, case: str, items: list[Any], words: str
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)

    async def session() -> Answer:
        conn = connect(server, pki.ca, pki.device)
        at = (await conn.post("/mup", mirror_doc(der.lfdi))).headers["location"]
        answer = await post(conn, at, readings(der.lfdi, *items))
        await conn.close()
        return answer

    answer = run(session())
    assert answer.status == 400 and words.encode() in answer.body, answer.body
    assert not MonitoringSample.objects.filter(der=der).exists()
    mirror = Sep2MirrorUsagePoint.objects.get(der=der)
    assert len(mirror.meter_readings) == 4 and not any(
        "last_value" in m for m in mirror.meter_readings.values()
    )


def test_it_refuses_bad_mirrors_and_bodies_and_stores_nothing(server: str, pki: Pki, enrolled: Any) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    future = int(time.time()) + 3600

    async def session() -> list[Answer]:
        conn = connect(server, pki.ca, pki.device)
        answers = [
            await post(conn, "/mup", b'<MirrorUsagePoint xmlns="http://ieee.org/2030.5"/>'),
            await conn.request("POST", "/mup", to_bytes(mirror_doc(der.lfdi)), "application/xml"),
        ]
        at = (await conn.post("/mup", mirror_doc(der.lfdi))).headers["location"]
        answers.append(await post(conn, at, readings(der.lfdi, (1, None, 4000), t=future)))
        answers.append(await post(conn, at, b"<MirrorMeterReadingList"))
        await conn.close()
        return answers

    no_schema, wrong_type, from_future, broken = run(session())
    assert no_schema.status == 400 and b"does not follow the 2030.5 schema" in no_schema.body
    assert wrong_type.status == 415
    assert from_future.status == 400 and b"check the device clock" in from_future.body
    assert broken.status == 400 and b"not well-formed" in broken.body
    assert Sep2MirrorUsagePoint.objects.filter(der=der).count() == 1  # only the good one
    assert not MonitoringSample.objects.filter(der=der).exists()


async def _audit_count() -> int:
    return await asyncio.to_thread(AuditRecord.objects.count)


def test_it_keeps_a_mirror_with_readings_it_does_not_monitor(server: str, pki: Pki, enrolled: Any) -> None:
    """EPRI's reference client mirrors f, A, V, PF, var, VA and W in one MirrorUsagePoint. One reading
    of a quantity the control room does not monitor (A, VA, PF) refused the whole document, so the
    client's metering test stopped; now the mirror is made with all seven, those three kept as the
    device defined them and left out of monitoring."""
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    sample = (SAMPLES / "epri_MirrorUsagePoint.xml").read_text()
    body = re.sub(
        r"<deviceLFDI>[0-9a-fA-F]+</deviceLFDI>", f"<deviceLFDI>{der.lfdi.lower()}</deviceLFDI>", sample
    )

    async def session() -> Answer:
        conn = connect(server, pki.ca, pki.device)
        answer = await conn.request("POST", "/mup", body.encode())
        await conn.close()
        return answer

    answer = run(session())
    assert answer.status == 201, answer.body
    mirror = Sep2MirrorUsagePoint.objects.get(der=der)
    uoms = sorted(m["uom"] for m in mirror.meter_readings.values())
    assert uoms == [5, 29, 33, 38, 61, 63, 65]  # A, V, Hz, W, VA, var, PF
