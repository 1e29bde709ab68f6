"""How 2030.5 clients on the site's network find the server: DNS-SD (RFC 6763) over multicast DNS
(RFC 6762), as IEEE 2030.5-2018 §7 has it.

The server is the service `_smartenergy._tcp.site`; each function set it serves is a subtype
(`tm._sub._smartenergy._tcp.site` …) and each enrolled device an `edev-<sFDI>` subtype, whose path is
that device's EndDevice — a CSIP client asks for its own sFDI (EPRI's reference client does exactly
this) and connects where the answer points. Every instance has an SRV record (host, port) and a TXT
record with the standard's keys: `txtvers=1` first, `dcap`, `path` (subtypes only), `https` (the TLS
port: the server speaks only TLS) and `level`. Answers carry their SRV, TXT and address records in
the additional section, so one answer is enough to connect.

The responder answers queries on one network interface (IPv6 groups ff05::fb, the site scope the
`.site` domain calls for, and ff02::fb; IPv4 224.0.0.251). It neither probes nor announces: it
speaks when asked. A packet it cannot read is dropped and the responder carries on.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import re
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("crest.sep2.dnssd")

MDNS_PORT = 5353
GROUPS_V6 = ("ff05::fb", "ff02::fb")
GROUP_V4 = "224.0.0.251"
SERVICE = "_smartenergy._tcp.site"
# Top-level function sets the server serves (2030.5 §7.3 subtype names), each with its path.
FUNCTION_SETS = {"tm": "/tm", "edev": "/edev", "mup": "/mup", "sdev": "/sdev", "rsps": "/rsps"}
LEVEL = "-S1"  # schema extensibility level (§7.4 Table 16): the standard schema, no extensions
EDEV_SFDI = re.compile(r"edev-(\d{1,15})")
A, PTR, TXT, AAAA, SRV, ANY = 1, 12, 16, 28, 33, 255
IN, TOP_BIT = 1, 0x8000  # class IN; QU bit in a question's class, cache-flush bit in a record's
HOST_TTL_S, OTHER_TTL_S, LEGACY_TTL_S = 120, 4500, 10  # RFC 6762 §10 and §6.7
MAX_PACKET = 9000


class Malformed(ValueError):
    """A packet that is not a well-formed DNS message."""


@dataclass(frozen=True)
class Question:
    name: str  # dotted, lower case, no trailing dot
    qtype: int
    unicast: bool  # the QU bit: the asker wants the answer sent to it, not to the group


@dataclass(frozen=True)
class Query:
    id: int
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    ttl_s: int
    rdata: bytes
    unique: bool  # only this host answers for it: cache-flush in multicast answers (RFC 6762 §10.2)


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset` (labels and compression pointers) and the offset after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if offset >= len(packet):
            raise Malformed("a name runs past the end of the packet")
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(packet) or jumps > 32:  # a pointer loop never ends
                raise Malformed("a bad compression pointer")
            end = offset + 2 if end < 0 else end
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            jumps += 1
            continue
        if length & 0xC0:
            raise Malformed("an unknown label type")
        if length == 0:
            return ".".join(labels), (offset + 1 if end < 0 else end)
        label = packet[offset + 1 : offset + 1 + length]
        if len(label) < length:
            raise Malformed("a label runs past the end of the packet")
        labels.append(label.decode("utf-8", errors="replace").lower())
        if sum(len(x) + 1 for x in labels) > 255:
            raise Malformed("a name longer than 255 octets")
        offset += 1 + length


def parse_query(packet: bytes) -> Query:
    """The questions of a DNS query; Malformed for anything else (responses, other opcodes, junk)."""
    if len(packet) < 12:
        raise Malformed("shorter than a DNS header")
    ident, flags, qdcount = struct.unpack_from("!HHH", packet)
    if flags & 0x8000 or flags & 0x7800:
        raise Malformed("not a standard query")
    offset, questions = 12, []
    for _ in range(qdcount):
        name, offset = _read_name(packet, offset)
        if offset + 4 > len(packet):
            raise Malformed("a question runs past the end of the packet")
        qtype, qclass = struct.unpack_from("!HH", packet, offset)
        offset += 4
        questions.append(Question(name, qtype, bool(qclass & TOP_BIT)))
    return Query(ident, tuple(questions))


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.split("."):
        raw = label.encode()
        if not 0 < len(raw) < 64:
            raise ValueError(f"{name!r} has an empty label or one over 63 octets.")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def txt_rdata(pairs: Iterator[str] | list[str]) -> bytes:
    out = b""
    for pair in pairs:
        raw = pair.encode()
        if len(raw) > 255:
            raise ValueError(f"The TXT string {pair!r} is over 255 octets.")
        out += bytes([len(raw)]) + raw
    return out


def _no_device(sfdi: int) -> str | None:
    return None


@dataclass(frozen=True)
class Advertisement:
    """What the responder says about the server: its name, where it listens, what it serves."""

    instance: str  # one label: the server's instance name ("CReST Control Room")
    host: str  # its host name, the SRV target ("crest.local")
    port: int  # the TLS port (SRV and the https key)
    addresses: tuple[str, ...]  # where that host is reached (A / AAAA records)
    dcap: str = "/dcap"
    function_sets: Mapping[str, str] = field(default_factory=lambda: dict(FUNCTION_SETS))
    edev_path: Callable[[int], str | None] = _no_device  # EndDevice path of an enrolled sFDI, or None

    def __post_init__(self) -> None:
        if "." in self.instance or not 0 < len(self.instance.encode()) < 48:
            raise ValueError("The DNS-SD instance name must be one label of 1–47 octets, without dots.")
        encode_name(self.host)
        if not 0 < self.port < 65536:
            raise ValueError(f"Port {self.port} is not a TCP port.")
        for address in self.addresses:
            ipaddress.ip_address(address)  # ValueError names the bad one


class Zone:
    """The records the server owns and which of them answer a question."""

    def __init__(self, ad: Advertisement) -> None:
        self.ad = ad

    def _subtype_path(self, subtype: str) -> str | None:
        if subtype in self.ad.function_sets:
            return self.ad.function_sets[subtype]
        match = EDEV_SFDI.fullmatch(subtype)
        return self.ad.edev_path(int(match.group(1))) if match else None

    def _instance_name(self, subtype: str | None) -> str:
        label = self.ad.instance if subtype is None else f"{self.ad.instance}-{subtype}"
        return f"{label}.{SERVICE}"

    def _instance_records(self, subtype: str | None, path: str | None) -> list[Record]:
        name = self._instance_name(subtype)
        srv = struct.pack("!HHH", 0, 0, self.ad.port) + encode_name(self.ad.host)
        pairs = ["txtvers=1", f"dcap={self.ad.dcap}"]
        pairs += [f"path={path}"] if path else []
        pairs += [f"https={self.ad.port}", f"level={LEVEL}"]
        return [
            Record(name, SRV, HOST_TTL_S, srv, True),
            Record(name, TXT, OTHER_TTL_S, txt_rdata(pairs), True),
        ]

    def _address_records(self) -> list[Record]:
        out = []
        for address in self.ad.addresses:
            ip = ipaddress.ip_address(address)
            rtype = AAAA if ip.version == 6 else A
            out.append(Record(self.ad.host, rtype, HOST_TTL_S, ip.packed, True))
        return out

    def _instance_of(self, name: str) -> tuple[str | None, str | None] | None:
        """(subtype, path) of one of our instance names, None if it is not ours."""
        label, _, rest = name.partition(".")
        own = self.ad.instance.lower()
        if rest != SERVICE or not label.startswith(own):
            return None
        if label == own:
            return None, None
        subtype = label[len(own) + 1 :] if label[len(own)] == "-" else ""
        path = self._subtype_path(subtype)
        return (subtype, path) if path else None

    def answer(self, question: Question) -> tuple[list[Record], list[Record]]:
        """(answers, additional records) for one question; both empty when it is not about us."""
        name, qtype = question.name, question.qtype
        browse = name == SERVICE
        subtype = name.removesuffix(f"._sub.{SERVICE}") if name.endswith(f"._sub.{SERVICE}") else None
        if (browse or subtype) and qtype in (PTR, ANY):
            path = None if browse or subtype is None else self._subtype_path(subtype)
            if not browse and path is None:
                return [], []
            target = encode_name(self._instance_name(None if browse else subtype))
            ptr = Record(name, PTR, OTHER_TTL_S, target, False)
            return [ptr], self._instance_records(None if browse else subtype, path) + self._address_records()
        instance = self._instance_of(name)
        if instance is not None:
            records = [r for r in self._instance_records(*instance) if qtype in (r.rtype, ANY)]
            return records, (self._address_records() if records else [])
        if name == self.ad.host.lower():
            return [r for r in self._address_records() if qtype in (r.rtype, ANY)], []
        return [], []


def _record_bytes(record: Record, legacy: bool) -> bytes:
    rclass = IN | (TOP_BIT if record.unique and not legacy else 0)
    ttl_s = min(record.ttl_s, LEGACY_TTL_S) if legacy else record.ttl_s
    head = struct.pack("!HHIH", record.rtype, rclass, ttl_s, len(record.rdata))
    return encode_name(record.name) + head + record.rdata


def response(zone: Zone, query: Query, legacy: bool) -> bytes | None:
    """The response to `query`, or None when none of its questions is about us. A legacy unicast
    query (not from port 5353, RFC 6762 §6.7) gets its ID and questions back, short TTLs and no
    cache-flush bits; a multicast DNS response has neither ID nor questions."""
    answers: list[Record] = []
    additional: list[Record] = []
    for question in query.questions:
        found, extra = zone.answer(question)
        answers += [r for r in found if r not in answers]
        additional += [r for r in extra if r not in additional]
    if not answers:
        return None
    additional = [r for r in additional if r not in answers]
    questions = list(query.questions) if legacy else []
    head = struct.pack(
        "!HHHHHH", query.id if legacy else 0, 0x8400, len(questions), len(answers), 0, len(additional)
    )
    body = b"".join(encode_name(q.name) + struct.pack("!HH", q.qtype, IN) for q in questions)
    body += b"".join(_record_bytes(r, legacy) for r in answers + additional)
    return head + body


class Responder:
    """Answers DNS-SD queries about the server on one network interface, on a thread of its own.
    `port` is 5353 on a real network (another port only to test it without multicast)."""

    def __init__(self, zone: Zone, interface: str, port: int = MDNS_PORT) -> None:
        self.zone, self.interface = zone, interface
        try:
            self.index = socket.if_nametoindex(interface)
        except OSError:
            raise OSError(f"There is no network interface {interface!r}.") from None
        opened = {family: self._open(family, port) for family in (socket.AF_INET6, socket.AF_INET)}
        self.sockets = {family: sock for family, sock in opened.items() if sock is not None}
        if not self.sockets:
            raise OSError(f"Cannot listen for multicast DNS on {interface} (see the log for why).")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sep2-dnssd", daemon=True)

    def _open(self, family: socket.AddressFamily, port: int) -> socket.socket | None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # other responders share 5353
            # Hear only this interface (on kernels before 5.7 this needs CAP_NET_RAW; then any).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
                sock.bind(("::", port))
                for group in GROUPS_V6:
                    mreq = socket.inet_pton(family, group) + struct.pack("@I", self.index)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.index)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 6762 §11
            else:
                sock.bind(("0.0.0.0", port))
                mreqn = (
                    socket.inet_aton(GROUP_V4) + socket.inet_aton("0.0.0.0") + struct.pack("@i", self.index)
                )
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        except OSError as exc:
            sock.close()
            kind = "IPv6" if family == socket.AF_INET6 else "IPv4"
            log.warning("DNS-SD: no %s multicast DNS on %s: %s", kind, self.interface, exc)
            return None
        return sock

    def local_port(self, family: socket.AddressFamily) -> int:
        return int(self.sockets[family].getsockname()[1])

    def start(self) -> Responder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets.values():
            sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select(list(self.sockets.values()), [], [], 0.5)
            for sock in ready:
                self._answer_one(sock)

    def _answer_one(self, sock: socket.socket) -> None:
        try:
            data, ancillary, _flags, source = sock.recvmsg(MAX_PACKET, 256)
        except OSError:
            return
        group = None
        for level, kind, info in ancillary:  # IPv6: the address it was sent to, on which interface
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(info) >= 20:
                if struct.unpack("@I", info[16:20])[0] != self.index:
                    return
                destination = socket.inet_ntop(socket.AF_INET6, info[:16])
                group = destination if destination in GROUPS_V6 else None
        if sock.family == socket.AF_INET:
            group = GROUP_V4
        try:
            query = parse_query(data)
            legacy = source[1] != MDNS_PORT
            reply = response(self.zone, query, legacy)
            if reply is None:
                return
            if legacy or group is None or all(q.unicast for q in query.questions):
                sock.sendto(reply, source)
            else:
                sock.sendto(
                    reply, (group, MDNS_PORT, 0, self.index) if group in GROUPS_V6 else (group, MDNS_PORT)
                )
        except Malformed as exc:
            log.debug("DNS-SD: ignored a packet from %s: %s", source[0], exc)
        except Exception:  # a query that trips an answer (the registry away) must not stop the responder
            log.exception("DNS-SD: answering a query from %s failed", source[0])


def interface_addresses(interface: str, family: int) -> tuple[str, ...]:
    """The interface's addresses of one family (Linux): every IPv6 address, link-local ones last;
    the IPv4 address, if it has one."""
    if family == socket.AF_INET6:
        rows = [line.split() for line in Path("/proc/net/if_inet6").read_text().splitlines()]
        ours = sorted(
            (int(row[3], 16) == 0x20, row[0]) for row in rows if len(row) == 6 and row[5] == interface
        )
        return tuple(str(ipaddress.IPv6Address(bytes.fromhex(hex_))) for _, hex_ in ours)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            ifreq = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", interface.encode()))  # SIOCGIFADDR
        except OSError:
            return ()
    return (socket.inet_ntoa(ifreq[20:24]),)


def advertised_addresses(host: str, interface: str) -> tuple[str, ...]:
    """Where a client that finds the server on `interface` reaches it: the address the server
    listens on, or for a wildcard (0.0.0.0, ::, "") the interface's own addresses of that family."""
    if host in ("0.0.0.0", "::", ""):
        families = {"0.0.0.0": [socket.AF_INET], "::": [socket.AF_INET6]}.get(
            host, [socket.AF_INET6, socket.AF_INET]
        )
        return tuple(a for family in families for a in interface_addresses(interface, family))
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))
