"""Encoders: one function per 2030.5 resource, children in sep.xsd order. URLs are built here
so that links and routes (app.py) agree."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from apps.der_registry.engine.group_controls import DEVICE_PROGRAM_PRIMACY
from apps.der_registry.engine.sep2 import hostclock
from apps.der_registry.engine.sep2.derstate import encode_state
from apps.der_registry.engine.sep2.model import (
    EVENT_ACTIVE,
    EVENT_SUPERSEDED,
    FOREVER_S,
    ControlView,
    DerState,
    EndDeviceView,
    LogEventView,
    ResponseView,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.xmlcodec import element, epoch, leaf, link, scaled_element

# The utility's IANA private enterprise number, in the low 32 bits of every mRID this server mints
# (2030.5 §mRIDType). 0 until the operator sets theirs (settings.CREST_SEP2_PEN, `set_pen`).
DEFAULT_PEN, MAX_PEN = 0, 0xFFFFFFFF
_pen = DEFAULT_PEN
KIND_CONTROL, KIND_PROGRAM, KIND_DEFAULT, KIND_CURVE, KIND_FSA, KIND_RSPS = 1, 2, 3, 4, 5, 6
RESPONSE_SET = "/rsps/0/rsp"
SELF_DEVICE = "/sdev"
# DERControlType bits (2030.5 Table): the modes this server's set points use.
MODE_BITS = {"connect": 1 << 0, "fixed_pf": 1 << 3, "max_lim_w": 1 << 11, "target_var": 1 << 12}


def set_pen(pen: int) -> None:
    global _pen
    if not 0 <= pen <= MAX_PEN:
        raise ValueError(f"A private enterprise number is between 0 and {MAX_PEN}, not {pen}.")
    _pen = pen


def mrid(kind: int, number: int) -> str:
    return f"{kind:02X}{number:022X}{_pen:08X}"


def mrid_number(value: str, kind: int) -> int | None:
    """The object number inside an mRID this server minted, or None when it is not one of ours."""
    value = value.upper()
    if len(value) != 32 or not value.startswith(f"{kind:02X}"):
        return None
    try:
        return int(value[2:24], 16)
    except ValueError:
        return None


def edev(edev_id: int) -> str:
    return f"/edev/{edev_id}"


def derp(der_id: int) -> str:
    return f"/derp/{der_id}"


def list_doc(tag: str, href: str, total: int, items: Sequence[ET.Element], poll_s: int | None) -> ET.Element:
    attrs = {"all": str(total), "href": href, "results": str(len(items))}
    if poll_s is not None:
        attrs["pollRate"] = str(poll_s)
    return element(tag, attrs, items)


def device_capability(poll_s: int, edev_count: int, mirror_count: int = 0) -> ET.Element:
    return element(
        "DeviceCapability",
        {"href": "/dcap", "pollRate": str(poll_s)},
        [
            link("ResponseSetListLink", "/rsps", 1),
            link("TimeLink", "/tm"),
            link("UsagePointListLink", "/upt", mirror_count),  # the mirrors, served back (`usage`)
            link("EndDeviceListLink", "/edev", edev_count),
            link("MirrorUsagePointListLink", "/mup", mirror_count),
            link("SelfDeviceLink", SELF_DEVICE),
        ],
    )


def self_device(lfdi: str, sfdi: int, poll_s: int) -> ET.Element:
    """The server as a device (AbstractDevice: its own identity, from its certificate) and its log,
    which the EPRI client polls when linked (it crashed on a SelfDevice without one)."""
    children = [
        leaf("lFDI", lfdi) if lfdi else None,
        link("LogEventListLink", f"{SELF_DEVICE}/lel", 0),
        leaf("sFDI", sfdi),
    ]
    return element("SelfDevice", {"href": SELF_DEVICE, "pollRate": str(poll_s)}, children)


def self_log_event_list(poll_s: int) -> ET.Element:
    """The server's own log: it records nothing there (its events are the control room's alarms)."""
    return list_doc("LogEventList", f"{SELF_DEVICE}/lel", 0, [], poll_s)


def time_resource(now: dt.datetime, poll_s: int, quality: int = hostclock.MANUALLY_SET) -> ET.Element:
    # The control room runs on UTC: no time zone or daylight-saving offset to announce. `quality`:
    # how the host's clock is kept (`hostclock`).
    t = epoch(now)
    return element(
        "Time",
        {"href": "/tm", "pollRate": str(poll_s)},
        [
            leaf("currentTime", t),
            leaf("dstEndTime", 0),
            leaf("dstOffset", 0),
            leaf("dstStartTime", 0),
            leaf("localTime", t),
            leaf("quality", quality),
            leaf("tzOffset", 0),
        ],
    )


def end_device(view: EndDeviceView) -> ET.Element:
    base = edev(view.edev_id)
    return element(
        "EndDevice",
        {"href": base, "subscribable": "0"},
        [
            link("DERListLink", f"{base}/der", 1),
            leaf("lFDI", view.lfdi),
            link("LogEventListLink", f"{base}/lel"),
            leaf("sFDI", view.sfdi),
            leaf("changedTime", epoch(view.changed_at)),
            leaf("enabled", view.enabled),
            link("FunctionSetAssignmentsListLink", f"{base}/fsa", view.fsa_count),
            link("RegistrationLink", f"{base}/rg"),
            link("SubscriptionListLink", f"{base}/sub"),
        ],
    )


def end_device_list(views: Sequence[EndDeviceView], total: int, poll_s: int) -> ET.Element:
    return list_doc("EndDeviceList", "/edev", total, [end_device(v) for v in views], poll_s)


def registration(view: EndDeviceView, poll_s: int) -> ET.Element:
    registered = view.registered_at or view.changed_at
    return element(
        "Registration",
        {"href": f"{edev(view.edev_id)}/rg", "pollRate": str(poll_s)},
        [leaf("dateTimeRegistered", epoch(registered)), leaf("pIN", view.pin if view.pin is not None else 0)],
    )


def fsa(edev_id: int, number: int = 0, mrid_: str = "", description: str = "DER set points") -> ET.Element:
    """FunctionSetAssignments `number` of a device (0: its own program's; `groups`: its groups')
    with its one DERProgramList."""
    base = f"{edev(edev_id)}/fsa/{number}"
    return element(
        "FunctionSetAssignments",
        {"href": base, "subscribable": "0"},
        [
            link("DERProgramListLink", f"{base}/derp", 1),
            link("ResponseSetListLink", "/rsps", 1),
            link("TimeLink", "/tm"),
            leaf("mRID", mrid_ or mrid(KIND_FSA, edev_id)),
            leaf("description", description[:32]),
        ],
    )


def fsa_list(
    edev_id: int, poll_s: int, start: int, limit: int, groups: Sequence[ET.Element] = ()
) -> ET.Element:
    """The device's own program's FSA (0), then one per group it belongs to (`groups.group_fsa`)."""
    every = [fsa(edev_id), *groups]
    return list_doc(
        "FunctionSetAssignmentsList", f"{edev(edev_id)}/fsa", len(every), every[start : start + limit], poll_s
    )


def der_program(der_id: int, control_count: int, curve_count: int) -> ET.Element:
    base = derp(der_id)
    return element(
        "DERProgram",
        {"href": base, "subscribable": "0"},
        [
            leaf("mRID", mrid(KIND_PROGRAM, der_id)),
            leaf("description", "Control room set points"),
            link("ActiveDERControlListLink", f"{base}/actderc", min(control_count, 1)),
            link("DefaultDERControlLink", f"{base}/dderc"),
            link("DERControlListLink", f"{base}/derc", control_count),
            link("DERCurveListLink", f"{base}/dc", curve_count),
            leaf("primacy", DEVICE_PROGRAM_PRIMACY),
        ],
    )


def der_program_list(
    edev_id: int, control_count: int, curve_count: int, poll_s: int, start: int, limit: int
) -> ET.Element:
    items = [der_program(edev_id, control_count, curve_count)][start : start + limit]
    return list_doc("DERProgramList", f"{edev(edev_id)}/fsa/0/derp", 1, items, poll_s)


def fixed_pf(pf: float | None) -> ET.Element | None:
    # Signed, EEI convention (as the set point's pf): negative while the DER absorbs vars.
    if pf is None:
        return None
    return element("opModFixedPF", children=[leaf("displacement", round(pf * 100)), leaf("multiplier", -2)])


def control_base(der_id: int, view: ControlView) -> ET.Element:
    max_lim = None if view.max_lim_pct is None else leaf("opModMaxLimW", round(view.max_lim_pct * 100))
    target_var = None if view.target_var is None else scaled_element("opModTargetVar", view.target_var)
    # The curve link comes last: opModVoltVar and opModWattVar follow opModTargetVar in the schema.
    curve = link(view.curve, f"{derp(der_id)}/dc/{view.curve_id}") if view.curve else None
    return element("DERControlBase", children=[fixed_pf(view.fixed_pf), max_lim, target_var, curve])


def der_control(der_id: int, view: ControlView) -> ET.Element:
    superseded = view.status == "superseded"
    return element(
        "DERControl",
        {
            "href": f"{derp(der_id)}/derc/{view.setpoint_id}",
            "replyTo": RESPONSE_SET,
            "responseRequired": "03",  # received/started/completed and the device's own answer
            "subscribable": "0",
        },
        [
            leaf("mRID", mrid(KIND_CONTROL, view.setpoint_id)),
            leaf("description", view.description[:32]),
            leaf("version", view.version),
            leaf("creationTime", epoch(view.issued_at)),
            element(
                "EventStatus",
                children=[
                    leaf("currentStatus", EVENT_SUPERSEDED if superseded else EVENT_ACTIVE),
                    leaf("dateTime", epoch(view.issued_at)),
                    leaf("potentiallySuperseded", superseded),
                ],
            ),
            element("interval", children=[leaf("duration", FOREVER_S), leaf("start", epoch(view.issued_at))]),
            control_base(der_id, view),
        ],
    )


def der_control_list(
    der_id: int, views: Sequence[ControlView], total: int, href_tail: str = "derc"
) -> ET.Element:
    return list_doc(
        "DERControlList", f"{derp(der_id)}/{href_tail}", total, [der_control(der_id, v) for v in views], None
    )


def der_list(edev_id: int, poll_s: int, start: int, limit: int) -> ET.Element:
    items = [der(edev_id)][start : start + limit]
    return list_doc("DERList", f"{edev(edev_id)}/der", 1, items, poll_s)


def der(edev_id: int) -> ET.Element:
    base = f"{edev(edev_id)}/der/0"
    return element(
        "DER",
        {"href": base, "subscribable": "0"},
        [
            link("CurrentDERProgramLink", derp(edev_id)),
            link("DERAvailabilityLink", f"{base}/dera"),
            link("DERCapabilityLink", f"{base}/dercap"),
            link("DERSettingsLink", f"{base}/derg"),
            link("DERStatusLink", f"{base}/ders"),
        ],
    )


def response(view: ResponseView) -> ET.Element:
    return element(
        "Response",
        {"href": f"{RESPONSE_SET}/{view.response_id}"},
        [
            leaf("createdDateTime", epoch(view.created_at)),
            leaf("endDeviceLFDI", view.lfdi),
            leaf("status", view.status),
            leaf("subject", view.subject),
        ],
    )


def response_list(views: Sequence[ResponseView], total: int) -> ET.Element:
    return list_doc("ResponseList", RESPONSE_SET, total, [response(v) for v in views], None)


def response_set(response_count: int) -> ET.Element:
    return element(
        "ResponseSet",
        {"href": "/rsps/0"},
        [
            leaf("mRID", mrid(KIND_RSPS, 0)),
            leaf("description", "DER control responses"),
            link("ResponseListLink", RESPONSE_SET, response_count),
        ],
    )


def response_set_list(poll_s: int, response_count: int) -> ET.Element:
    return list_doc("ResponseSetList", "/rsps", 1, [response_set(response_count)], poll_s)


def log_event(edev_id: int, view: LogEventView) -> ET.Element:
    return element(
        "LogEvent",
        {"href": f"{edev(edev_id)}/lel/{view.log_id}"},
        [
            leaf("createdDateTime", epoch(view.created_at)),
            leaf("details", view.details[:32] or None),
            leaf("functionSet", view.function_set),
            leaf("logEventCode", view.code),
            leaf("logEventID", view.event_id),
            leaf("logEventPEN", view.pen),
            leaf("profileID", view.profile),
        ],
    )


def log_event_list(edev_id: int, views: Sequence[LogEventView], total: int, poll_s: int) -> ET.Element:
    items = [log_event(edev_id, v) for v in views]
    return list_doc("LogEventList", f"{edev(edev_id)}/lel", total, items, poll_s)


def subscription(edev_id: int, view: SubscriptionView) -> ET.Element:
    return element(
        "Subscription",
        {"href": f"{edev(edev_id)}/sub/{view.sub_id}"},
        [
            leaf("subscribedResource", view.resource),
            leaf("encoding", view.encoding),
            leaf("level", view.level),
            leaf("limit", view.limit),
            leaf("notificationURI", view.notification_uri),
        ],
    )


def subscription_list(edev_id: int, views: Sequence[SubscriptionView], total: int, poll_s: int) -> ET.Element:
    items = [subscription(edev_id, v) for v in views]
    return list_doc("SubscriptionList", f"{edev(edev_id)}/sub", total, items, poll_s)


def notification(
    edev_id: int, sub: SubscriptionView, resource: ET.Element | None, status: int = 0
) -> ET.Element:
    """A Notification carrying the changed resource (xsi:type names its concrete type)."""
    body = None
    if resource is not None:
        body = element(
            "Resource",
            {
                **resource.attrib,
                "{http://www.w3.org/2001/XMLSchema-instance}type": resource.tag.split("}")[1],
            },
            list(resource),
        )
    return element(
        "Notification",
        {},
        [
            leaf("subscribedResource", sub.resource),
            body,
            leaf("status", status),
            leaf("subscriptionURI", f"{edev(edev_id)}/sub/{sub.sub_id}"),
        ],
    )


def der_state_doc(edev_id: int, kind: str, state: DerState) -> ET.Element:
    return encode_state(f"{edev(edev_id)}/der/0/{kind}", kind, state)
