"""The DER resources a client PUTs (DERCapability, DERSettings, DERStatus, DERAvailability) and
the documents it POSTs (EndDevice, Response, LogEvent, Subscription): decoded to plain values in
base SI units (W, var, VA, V, A, epoch seconds) for the registry. A DER resource is served back as
the device sent it (every field, as written: `DOCUMENT`), with the server's href; one stored before
that is encoded from its values in sep.xsd order."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from apps.der_registry.engine.sep2.model import DerState
from apps.der_registry.engine.sep2.xmlcodec import (
    SepXmlError,
    element,
    integer,
    leaf,
    parse,
    q,
    scaled,
    scaled_element,
    text,
)

# kind (URL tail) → (root tag, [(xml tag, kind of value)]) in schema order.
# Value kinds: scaled (value × 10^multiplier), int, hex, time, status (dateTime + value child).
DER_RESOURCES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "dercap": (
        "DERCapability",
        [
            ("modesSupported", "hex"),
            ("rtgA", "scaled"),
            ("rtgMaxChargeRateW", "scaled"),
            ("rtgVA", "scaled"),
            ("rtgVar", "scaled"),
            ("rtgVarNeg", "scaled"),
            ("rtgW", "scaled"),
            ("type", "int"),
        ],
    ),
    "derg": (
        "DERSettings",
        [
            ("modesEnabled", "hex"),
            ("setGradW", "int"),
            ("setMaxChargeRateW", "scaled"),
            ("setMaxVA", "scaled"),
            ("setMaxVar", "scaled"),
            ("setMaxVarNeg", "scaled"),
            ("setMaxW", "scaled"),
            ("setVRef", "scaled"),
            ("updatedTime", "time"),
        ],
    ),
    "ders": (
        "DERStatus",
        [
            ("genConnectStatus", "status_hex"),
            ("inverterStatus", "status"),
            ("operationalModeStatus", "status"),
            ("readingTime", "time"),
        ],
    ),
    "dera": (
        "DERAvailability",
        [
            ("availabilityDuration", "int"),
            ("readingTime", "time"),
            ("statVarAvail", "scaled"),
            ("statWAvail", "scaled"),
        ],
    ),
}


def _value(root: Any, tag: str, kind: str) -> float | int | None:
    if kind == "scaled":
        return scaled(root, tag)
    if kind == "hex":
        raw = text(root, tag)
        return None if raw is None else int(raw, 16)
    if kind in ("status", "status_hex"):
        node = root.find(q(tag))
        raw = None if node is None else text(node, "value")
        return None if raw is None else int(raw, 16 if kind == "status_hex" else 10)
    return integer(root, tag)


DOCUMENT = "_document"  # the key under which the device's own document is kept with its values


def decode_der_resource(kind: str, body: bytes) -> dict[str, object]:
    """A PUT body for /edev/{id}/der/0/{kind}, as {xml tag: value} (absent tags left out), and the
    validated document itself under DOCUMENT."""
    tag, spec = DER_RESOURCES[kind]
    root = parse(body, (tag,))
    values: dict[str, object] = {DOCUMENT: body.decode("utf-8")}
    for name, value_kind in spec:
        value = _value(root, name, value_kind)
        if value is not None:
            values[name] = value
    return values


def _encode_value(tag: str, kind: str, value: object) -> ET.Element | None:
    if value is None:
        return None
    if kind == "scaled":
        return scaled_element(tag, float(str(value)))
    number = int(str(value))
    if kind == "hex":
        return leaf(tag, f"{number:08X}")
    if kind in ("status", "status_hex"):
        shown = f"{number:02X}" if kind == "status_hex" else str(number)
        return element(tag, children=[leaf("dateTime", 0), leaf("value", shown)])
    return leaf(tag, number)


def encode_state(href: str, kind: str, state: DerState) -> ET.Element:
    tag, spec = DER_RESOURCES[kind]
    attrs = {"href": href} if kind == "dercap" else {"href": href, "subscribable": "0"}
    document = state.values.get(DOCUMENT)
    if isinstance(document, str):  # parsed and schema-checked when it was PUT
        root = ET.fromstring(document)
        root.attrib.update(attrs)
        return root
    children = [_encode_value(name, value_kind, state.values.get(name)) for name, value_kind in spec]
    return element(tag, attrs, children)


@dataclass(frozen=True)
class PostedEndDevice:
    lfdi: str
    sfdi: int


@dataclass(frozen=True)
class PostedResponse:
    lfdi: str
    subject: str
    status: int
    created_at: dt.datetime


@dataclass(frozen=True)
class PostedSubscription:
    resource: str
    notification_uri: str
    limit: int
    encoding: int
    level: str


@dataclass(frozen=True)
class PostedLogEvent:
    created_at: dt.datetime
    function_set: int
    code: int
    event_id: int
    pen: int
    profile: int
    details: str


def _when(root: Any, tag: str) -> dt.datetime:
    seconds = integer(root, tag)
    return dt.datetime.now(dt.UTC) if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _required(value: Any, what: str) -> Any:
    if value is None:
        raise SepXmlError(f"The document has no {what}.")
    return value


def decode_end_device(body: bytes) -> PostedEndDevice:
    root = parse(body, ("EndDevice",))
    # lFDI is optional in 2030.5: a device may register by its sFDI alone ("" here).
    lfdi = (text(root, "lFDI") or "").upper()
    return PostedEndDevice(lfdi=lfdi, sfdi=int(_required(integer(root, "sFDI"), "sFDI")))


def decode_response(body: bytes) -> PostedResponse:
    root = parse(body, ("Response", "DERControlResponse"))
    return PostedResponse(
        lfdi=str(text(root, "endDeviceLFDI")).upper(),
        subject=str(text(root, "subject")).upper(),
        status=int(_required(integer(root, "status"), "status")),
        created_at=_when(root, "createdDateTime"),
    )


def decode_subscription(body: bytes) -> PostedSubscription:
    root = parse(body, ("Subscription",))
    return PostedSubscription(
        resource=str(text(root, "subscribedResource")),
        notification_uri=str(text(root, "notificationURI")),
        limit=int(str(integer(root, "limit"))),
        encoding=int(str(integer(root, "encoding"))),
        level=str(text(root, "level")),
    )


def decode_log_event(body: bytes) -> PostedLogEvent:
    root = parse(body, ("LogEvent",))
    return PostedLogEvent(
        created_at=_when(root, "createdDateTime"),
        function_set=int(str(integer(root, "functionSet"))),
        code=int(str(integer(root, "logEventCode"))),
        event_id=int(str(integer(root, "logEventID"))),
        pen=int(str(integer(root, "logEventPEN"))),
        profile=int(str(integer(root, "profileID"))),
        details=text(root, "details") or "",
    )
