"""The server's DNS-SD responder (apps/der_registry/engine/sep2/dnssd.py) answers queries built and
read by an independent DNS library (dnslib), sent over real UDP on loopback to a port of its own
(5353 and its multicast groups are the integration test's, tests/integration/test_it_epri_client.py)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from dnslib import AAAA, PTR, QTYPE, SRV, TXT, DNSQuestion, DNSRecord

from apps.der_registry.engine.sep2 import dnssd

SFDI = 17298934539
SERVICE = "_smartenergy._tcp.site"
DEVICE_QUERY = f"edev-{SFDI:012d}._sub.{SERVICE}"
PORT = 8443


def _edev_path(sfdi: int) -> str | None:
    if sfdi == 404:
        raise ConnectionError("the registry is not reachable")
    return "/edev/7" if sfdi == SFDI else None


@pytest.fixture
def responder() -> Iterator[dnssd.Responder]:
    ad = dnssd.Advertisement(
        "crest", "crest.local", PORT, ("fd00:c0de::1", "192.0.2.10"), edev_path=_edev_path
    )
    running = dnssd.Responder(dnssd.Zone(ad), "lo", port=0).start()
    yield running
    running.stop()


def ask(responder: dnssd.Responder, query: bytes, family: int = socket.AF_INET6) -> DNSRecord | None:
    """Send one packet to the responder as a DNS client would; its reply, or None after 0.5 s."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(0.5)
        client.sendto(query, (host, responder.local_port(family)))
        try:
            return DNSRecord.parse(client.recv(9000))
        except TimeoutError:
            return None


def question(name: str, qtype: str, ident: int = 4242) -> bytes:
    record = DNSRecord.question(name, qtype)
    record.header.id = ident
    return bytes(record.pack())


def txt_strings(rr: TXT) -> list[str]:
    return [s.decode() for s in rr.data]


def test_a_device_asking_for_its_sfdi_finds_its_end_device_on_the_server(responder: dnssd.Responder) -> None:
    reply = ask(responder, question(DEVICE_QUERY, "PTR"))
    assert reply is not None
    assert reply.header.id == 4242 and reply.header.qr == 1 and reply.header.aa == 1
    assert [str(q.qname) for q in reply.questions] == [DEVICE_QUERY + "."]  # legacy unicast: echoed
    [ptr] = reply.rr
    instance = f"crest-edev-{SFDI:012d}.{SERVICE}."
    assert ptr.rtype == QTYPE.PTR and isinstance(ptr.rdata, PTR) and str(ptr.rdata.label) == instance
    extra = {(str(rr.rname), QTYPE[rr.rtype]): rr for rr in reply.ar}
    srv = extra[(instance, "SRV")].rdata
    assert isinstance(srv, SRV) and srv.port == PORT and str(srv.target) == "crest.local."
    txt = txt_strings(extra[(instance, "TXT")].rdata)
    assert txt == ["txtvers=1", "dcap=/dcap", "path=/edev/7", f"https={PORT}", "level=-S1"]
    aaaa = extra[("crest.local.", "AAAA")].rdata
    assert isinstance(aaaa, AAAA) and str(aaaa) == "fd00:c0de::1"
    assert str(extra[("crest.local.", "A")].rdata) == "192.0.2.10"
    assert all(rr.ttl <= 10 for rr in [*reply.rr, *reply.ar])  # RFC 6762 §6.7


def test_a_device_the_registry_does_not_know_gets_no_answer(responder: dnssd.Responder) -> None:
    assert ask(responder, question(f"edev-{SFDI + 1:012d}._sub.{SERVICE}", "PTR")) is None
    assert ask(responder, question(f"crest-edev-{SFDI + 1:012d}.{SERVICE}", "ANY")) is None


def test_the_server_and_its_function_sets_are_found(responder: dnssd.Responder) -> None:
    server = ask(responder, question(SERVICE, "PTR"))
    assert server is not None and str(server.rr[0].rdata.label) == f"crest.{SERVICE}."
    [txt] = [rr for rr in server.ar if rr.rtype == QTYPE.TXT]
    assert txt_strings(txt.rdata) == ["txtvers=1", "dcap=/dcap", f"https={PORT}", "level=-S1"]  # no path
    for subtype, path in [("tm", "/tm"), ("edev", "/edev"), ("mup", "/mup"), ("sdev", "/sdev")]:
        reply = ask(responder, question(f"{subtype}._sub.{SERVICE}", "PTR"))
        assert reply is not None, subtype
        [txt] = [rr for rr in reply.ar if rr.rtype == QTYPE.TXT]
        assert f"path={path}" in txt_strings(txt.rdata)
    assert ask(responder, question(f"bill._sub.{SERVICE}", "PTR")) is None  # a function set it lacks
    assert ask(responder, question("_http._tcp.local", "PTR")) is None


def test_a_follow_up_for_an_instance_or_the_host_is_answered(responder: dnssd.Responder) -> None:
    instance = f"crest-edev-{SFDI:012d}.{SERVICE}"
    records = ask(responder, question(instance.upper(), "ANY"))  # names compare case-insensitively
    assert records is not None and {QTYPE[rr.rtype] for rr in records.rr} == {"SRV", "TXT"}
    host = ask(responder, question("crest.local", "AAAA"))
    assert host is not None and [str(rr.rdata) for rr in host.rr] == ["fd00:c0de::1"]


def test_two_questions_in_one_compressed_query_are_both_answered(responder: dnssd.Responder) -> None:
    query = DNSRecord.question(SERVICE, "PTR")
    query.add_question(DNSQuestion(f"tm._sub.{SERVICE}", QTYPE.PTR))  # dnslib points into the first name
    packed = bytes(query.pack())
    assert b"\xc0" in packed[len(SERVICE) + 14 :]
    reply = ask(responder, packed)
    assert reply is not None and len(reply.rr) == 2


JUNK = [
    b"",
    b"\x00\x01\x00",
    struct.pack("!HHHHHH", 1, 0, 3, 0, 0, 0),  # three questions announced, none there
    struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x0c\x00\x01",  # a name pointing at itself
    struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x3fedev",  # a label running past the end
    struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x80abc\x00\x00\x0c\x00\x01",  # an unknown label type
    bytes(DNSRecord.question(DEVICE_QUERY, "PTR").reply().pack()),  # a response, not a query
    bytes(range(256)) * 8,
]


@pytest.mark.parametrize("family", [socket.AF_INET6, socket.AF_INET])
def test_junk_is_ignored_and_the_responder_keeps_answering(responder: dnssd.Responder, family: int) -> None:
    for packet in JUNK:
        assert ask(responder, packet, family) is None, packet[:16]
    reply = ask(responder, question(DEVICE_QUERY, "PTR"), family)
    assert reply is not None and reply.rr[0].rtype == QTYPE.PTR


def test_a_registry_that_fails_a_lookup_costs_that_answer_only(responder: dnssd.Responder) -> None:
    assert ask(responder, question(f"edev-{404:012d}._sub.{SERVICE}", "PTR")) is None
    assert ask(responder, question(DEVICE_QUERY, "PTR")) is not None


def test_what_cannot_be_advertised_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="one label"):
        dnssd.Advertisement("crest.example", "crest.local", PORT, ("::1",))
    with pytest.raises(ValueError, match="not a TCP port"):
        dnssd.Advertisement("crest", "crest.local", 0, ("::1",))
    with pytest.raises(ValueError, match=r"192\.0\.2"):
        dnssd.Advertisement("crest", "crest.local", PORT, ("192.0.2",))
    with pytest.raises(OSError, match="no network interface"):
        dnssd.Responder(dnssd.Zone(dnssd.Advertisement("crest", "crest.local", PORT, ())), "nonesuch0")


def test_a_wildcard_listener_is_advertised_at_the_interface_addresses() -> None:
    assert dnssd.advertised_addresses("0.0.0.0", "lo") == ("127.0.0.1",)
    assert dnssd.advertised_addresses("::", "lo") == ("::1",)
    assert dnssd.advertised_addresses("127.0.0.1", "eth-unused") == ("127.0.0.1",)
