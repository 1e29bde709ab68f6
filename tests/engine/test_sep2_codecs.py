"""2030.5 codecs: every encoder's document validates against sep.xsd; client documents decode
to SI values and back; malformed, foreign or schema-breaking bodies are refused with a reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from lxml import etree

from apps.der_registry.engine.sep2 import default_docs as dd
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2 import xmlcodec
from apps.der_registry.engine.sep2.derstate import (
    DOCUMENT,
    decode_der_resource,
    decode_end_device,
    decode_response,
    encode_state,
)
from apps.der_registry.engine.sep2.http import HttpError, read_request
from apps.der_registry.engine.sep2.model import (
    CURVE_VOLT_VAR,
    ControlView,
    CurveView,
    DefaultControlView,
    DerState,
    EndDeviceView,
    LogEventView,
    ResponseView,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.simulator import SimDevice, der_status_doc, end_device_doc, response_doc
from apps.der_registry.engine.sep2.xmlcodec import SepXmlError, scaled_element, schema_problem, to_bytes

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
EDEV = EndDeviceView(7, LFDI, 167261211391, T0, T0, 123456)
ACTIVE = ControlView(11, T0, "issued", "Manual set point", max_lim_pct=80.0, target_var=-2500.0)
OLD = ControlView(10, T0, "superseded", "DMS dispatch set point", target_var=4840.0, fixed_pf=0.95)

DOCUMENTS = {
    "DeviceCapability": res.device_capability(60, 1),
    "Time": res.time_resource(T0, 60),
    "EndDeviceList": res.end_device_list([EDEV], 1, 60),
    "Registration": res.registration(EDEV, 60),
    "FunctionSetAssignmentsList": res.fsa_list(7, 60, 0, 1),
    "DERProgramList": res.der_program_list(7, 2, 1, 60, 0, 1),
    "DERControlList": res.der_control_list(7, [ACTIVE, OLD], 2),
    "DefaultDERControl": dd.default_der_control(DefaultControlView(7, "Connected, energized")),
    "DERCurveList": dd.der_curve_list(
        7, [CurveView(1, T0, CURVE_VOLT_VAR, ((92.0, 44.0), (108.0, -44.0)))], 1
    ),
    "DERList": res.der_list(7, 60, 0, 1),
    "ResponseSetList": res.response_set_list(60, 1),
    "ResponseList": res.response_list([ResponseView(1, LFDI, res.mrid(1, 11), 1, T0)], 1),
    "LogEventList": res.log_event_list(7, [LogEventView(1, T0, 0, 5, 1, 0, 0, "reboot")], 1, 60),
    "SubscriptionList": res.subscription_list(
        7, [SubscriptionView(1, "/derp/7/derc", "https://agg.example/n", 10)], 1, 60
    ),
    "SelfDevice": res.self_device(LFDI, 123456789012, 60),
    "SelfLogEventList": res.self_log_event_list(60),
    "ResponseSet": res.response_set(3),
    "Response": res.response(ResponseView(1, LFDI, res.mrid(1, 11), 1, T0)),
    "LogEvent": res.log_event(7, LogEventView(1, T0, 0, 5, 1, 0, 0, "reboot")),
    "Subscription": res.subscription(7, SubscriptionView(1, "/derp/7/derc", "https://agg.example/n", 10)),
    "Notification": res.notification(
        7, SubscriptionView(1, "/derp/7/derc", "https://a/n", 1), res.der_control(7, ACTIVE)
    ),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_every_emitted_document_validates_against_sep_xsd(name: str) -> None:
    body = to_bytes(DOCUMENTS[name])
    assert schema_problem(body) == "", schema_problem(body)


def test_a_set_point_is_an_active_control_that_never_ends_and_its_predecessor_is_superseded() -> None:
    body = to_bytes(res.der_control_list(7, [ACTIVE, OLD], 2)).decode()
    assert body.count("<currentStatus>1</currentStatus>") == 1
    assert body.count("<currentStatus>4</currentStatus>") == 1
    assert f"<duration>{2**31 - 1}</duration>" in body
    assert "<opModMaxLimW>8000</opModMaxLimW>" in body  # 80 % in hundredths of a percent


@pytest.mark.parametrize("amount", [0.0, -2500.0, 4840.0, 123456.0, -98765432.0, 12.5])
def test_value_with_multiplier_fits_int16_and_keeps_precision(amount: float) -> None:
    node = scaled_element("opModTargetVar", amount)
    value, multiplier = int(node[1].text or 0), int(node[0].text or 0)
    assert abs(value) <= 32767
    assert value * 10.0**multiplier == pytest.approx(amount, rel=1e-3, abs=1e-9)


@pytest.mark.parametrize("kind", ["dercap", "derg", "ders", "dera"])
def test_der_resources_round_trip(kind: str) -> None:
    bodies = {
        "dercap": b"<DERCapability xmlns='http://ieee.org/2030.5'><modesSupported>00003000</modesSupported>"
        b"<rtgA><multiplier>0</multiplier><value>46</value></rtgA>"
        b"<rtgVA><multiplier>1</multiplier><value>1100</value></rtgVA>"
        b"<rtgW><multiplier>1</multiplier><value>1000</value></rtgW><type>4</type></DERCapability>",
        "derg": b"<DERSettings xmlns='http://ieee.org/2030.5'><setGradW>100</setGradW>"
        b"<setMaxW><multiplier>2</multiplier><value>90</value></setMaxW><updatedTime>1780000000</updatedTime>"
        b"</DERSettings>",
        "ders": to_bytes(der_status_doc()),
        "dera": b"<DERAvailability xmlns='http://ieee.org/2030.5'><readingTime>1780000000</readingTime>"
        b"<statVarAvail><multiplier>0</multiplier><value>-3000</value></statVarAvail></DERAvailability>",
    }
    values = decode_der_resource(kind, bodies[kind])
    plain = {k: v for k, v in values.items() if k != DOCUMENT}
    again = to_bytes(encode_state(f"/edev/7/der/0/{kind}", kind, DerState(values, T0)))
    assert schema_problem(again) == ""
    assert {k: v for k, v in decode_der_resource(kind, again).items() if k != DOCUMENT} == plain
    # served as the device wrote it (multipliers and all), with the server's href
    assert etree.tostring(etree.fromstring(again)).count(b"<") == etree.tostring(
        etree.fromstring(bodies[kind])
    ).count(b"<")
    # a report stored before documents were kept is encoded from its values
    older = to_bytes(encode_state(f"/edev/7/der/0/{kind}", kind, DerState(plain, T0)))
    assert schema_problem(older) == ""
    assert {k: v for k, v in decode_der_resource(kind, older).items() if k != DOCUMENT} == plain
    if kind == "dercap":
        assert (values["rtgW"], values["rtgVA"], values["modesSupported"]) == (10000.0, 11000.0, 0x3000)
    if kind == "ders":
        assert (values["genConnectStatus"], values["operationalModeStatus"]) == (7, 2)


def test_client_documents_decode() -> None:
    posted = decode_end_device(to_bytes(end_device_doc(SimDevice(LFDI.lower(), 167261211391))))
    assert (posted.lfdi, posted.sfdi) == (LFDI, 167261211391)
    answer = decode_response(to_bytes(response_doc(LFDI, res.mrid(1, 11), 7)))
    assert (answer.status, res.mrid_number(answer.subject, 1)) == (7, 11)
    assert res.mrid_number(res.mrid(2, 11), 1) is None  # a program's mRID is not a control's


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<DERStatus xmlns='http://ieee.org/2030.5'><readingTime>1</readingTime>", "not well-formed"),
        (b"<DERStatus><readingTime>1</readingTime></DERStatus>", "2030.5 namespace"),
        (b"<DERSettings xmlns='http://ieee.org/2030.5'/>", "Expected a DERStatus"),
        (b"<DERStatus xmlns='http://ieee.org/2030.5'><readingTime>soon</readingTime></DERStatus>", "schema"),
        (b"<DERStatus xmlns='http://ieee.org/2030.5'></DERStatus>", "schema"),
        (b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><DERStatus xmlns='http://ieee.org/2030.5'/>", "Document type"),
        (b"\xff\xfe garbage", "not well-formed"),
    ],
)
def test_bad_client_documents_are_refused_with_a_reason(body: bytes, words: str) -> None:
    with pytest.raises(SepXmlError, match=words):
        decode_der_resource("ders", body)


def _read(raw: bytes, max_body: int = 1024) -> object:
    async def go() -> object:
        reader = asyncio.StreamReader(limit=16 * 1024)
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_request(reader, max_body)

    return asyncio.run(go())


def test_http_request_parsing_and_limits() -> None:
    req = _read(b"PUT /edev/7/der/0/ders/?s=2&l=5 HTTP/1.1\r\nContent-Length: 3\r\nHost: x\r\n\r\nabc")
    assert (req.method, req.path, req.query, req.body) == (
        "PUT",
        "/edev/7/der/0/ders",
        {"s": "2", "l": "5"},
        b"abc",
    )  # type: ignore[attr-defined]
    assert _read(b"") is None
    for raw, status in [
        (b"POST /edev HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"POST /edev HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"POST /edev HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),  # no Host
        (b"GET\r\n\r\n", 400),
        (b"GET / HTTP/2\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    ]:
        with pytest.raises(HttpError) as caught:
            _read(raw)
        assert caught.value.status == status


def test_the_schemas_are_built_one_at_a_time_whatever_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """libxml2 is not safe building schemas from several threads at once: the server's request
    threads did, on their first documents, and a registration was answered 500 ("the given type is
    not a built-in type"). However many threads ask at once, one build runs at a time, once per
    edition."""
    building, most, builds = 0, 0, 0
    real = xmlcodec.etree.XMLSchema
    lock = threading.Lock()

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        nonlocal building, most, builds
        with lock:
            building, builds = building + 1, builds + 1
            most = max(most, building)
        time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                building -= 1

    monkeypatch.setattr(xmlcodec.etree, "XMLSchema", slow_build)
    xmlcodec.set_schema_path(xmlcodec.DEFAULT_XSD)  # empties the cache: the next ask builds
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        xmlcodec.schema_problem(f'<Time xmlns="{xmlcodec.NS_2013}"/>'.encode())  # needs the schema

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (most, builds) == (1, 1)


def test_documents_refused_at_once_by_many_threads_each_say_why() -> None:
    """The schema keeps the last validation's errors in one log for every thread: read after another
    thread's validation, the log could be empty and the refusal failed (an AttributeError, a 500)
    instead of saying which line is wrong."""
    body = f'<Time xmlns="{xmlcodec.NS_2013}"/>'.encode()  # Time without its children: invalid
    start, said, failed = threading.Barrier(8), [], []

    def refuse_many() -> None:
        start.wait()
        for _ in range(300):
            try:
                said.append(xmlcodec.schema_problem(body))
            except Exception as exc:  # what the server would have answered 500
                failed.append(repr(exc))

    threads = [threading.Thread(target=refuse_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == [] and len(said) == 2400
    assert all(s.startswith("line 1:") and "currentTime" in s for s in said), {s for s in said}


def test_no_two_programs_curves_share_an_mrid() -> None:
    """Every DER's default curve is /derp/{id}/dc/1: their mRIDs differ (they named only the curve
    number, so every DER's curve 1 had one mRID) — and a set point's curve differs from both."""
    view = CurveView(1, T0, 0, ((95.0, 50.0), (105.0, -50.0)))
    mrids = {
        dd.der_curve(der_id, replace(view, curve_id=n)).findtext(xmlcodec.q("mRID"))
        for der_id in (5, 6)
        for n in (1, 2, 107)
    }
    assert len(mrids) == 6
