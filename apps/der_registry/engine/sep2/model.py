"""Plain records the server works with, and the `Store` protocol the registry adapter implements."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.der_registry.engine.group_controls import GroupControlRequest
from apps.der_registry.engine.sep2.editions import NS_2013
from apps.der_registry.engine.sep2.mirror import (
    MeterReadingPost,
    MirrorPost,
    MirrorView,
    ReadingSetView,
    ReadingValue,
)

# 2030.5 EventStatus.currentStatus and Response.status codes used here.
EVENT_ACTIVE, EVENT_CANCELLED, EVENT_SUPERSEDED = 1, 2, 4
RESPONSE_RECEIVED, RESPONSE_STARTED, RESPONSE_COMPLETED, RESPONSE_CANCELLED, RESPONSE_SUPERSEDED = (
    1,
    2,
    3,
    6,
    7,
)
RESPONSE_NAMES = {
    1: "received",
    2: "started",
    3: "completed",
    4: "opted out",
    5: "opted in",
    6: "cancelled",
    7: "superseded",
    252: "rejected: cannot be met",
    253: "rejected: invalid event",
    254: "rejected: expired",
}
# DERCurveType (2013 numbering, as the server builds every document; 2018 numbers differ).
CURVE_VOLT_VAR, CURVE_VOLT_WATT, CURVE_WATT_VAR = 0, 3, 10
CURVE_ID = 1  # the curve of the DER's default mode (/derp/{id}/dc/1)
VOLT_WATT_CURVE_ID = 2  # its volt–watt curve, beside the default mode (/derp/{id}/dc/2)
SETPOINT_CURVE_BASE = 100  # a set point's own curve: /derp/{id}/dc/{100 + the set point's id}
# DERUnitRefType of a curve's y values: % of setMaxW (volt–watt), % of statVarAvail (the var curves).
Y_PCT_MAX_W, Y_PCT_VAR_AVAILABLE = 1, 3
# A set point holds until the next one replaces it: the longest duration a UInt32 client handles safely.
FOREVER_S = 2**31 - 1


class Sep2Refusal(Exception):
    """A request the registry refuses: HTTP status and an explanation an operator understands."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Client:
    """Who a TLS client certificate belongs to: one device, or an aggregator (a DER group)."""

    lfdi: str
    kind: str  # "device" or "aggregator"
    name: str
    der_ids: tuple[int, ...] = ()
    namespace: str = NS_2013  # the edition of 2030.5 it speaks (`editions`): what its GETs are answered in


@dataclass(frozen=True)
class EndDeviceView:
    edev_id: int  # the registry's DER id
    lfdi: str
    sfdi: int
    changed_at: dt.datetime
    registered_at: dt.datetime | None
    pin: int | None
    enabled: bool = True  # False while the registry has the DER suspended (or not yet active)
    fsa_count: int = 1  # its own program's FunctionSetAssignments and one per group it belongs to


@dataclass(frozen=True)
class ControlView:
    """One set point as a DERControl."""

    setpoint_id: int
    issued_at: dt.datetime
    status: str  # the registry's set-point status
    description: str
    max_lim_pct: float | None = None  # opModMaxLimW, % of setMaxW
    target_var: float | None = None  # opModTargetVar, var
    fixed_pf: float | None = None
    version: int = 0
    curve: str = ""  # "opModVoltVar" or "opModWattVar": the mode whose DERCurve (curve_id) it follows
    curve_id: int = 0


@dataclass(frozen=True)
class DefaultControlView:
    """What a DER does while no DERControl is in force: the registry's default mode and settings."""

    der_id: int
    description: str
    connect: bool = True
    energize: bool = True
    fixed_pf: float | None = None  # opModFixedPF, signed (EEI: negative while absorbing vars)
    target_var: float | None = None  # opModTargetVar, var
    curve: str = ""  # "opModVoltVar" or "opModWattVar": the mode whose DERCurve (CURVE_ID) it follows
    volt_watt: bool = False  # opModVoltWatt too, following the DERCurve VOLT_WATT_CURVE_ID


@dataclass(frozen=True)
class GroupProgramView:
    """A DER group's own DERProgram, in the FunctionSetAssignments of each member's device."""

    group_id: int
    name: str
    primacy: int
    # Its DefaultDERControl, when an admin gave it one (the registry's default mode and settings).
    default_mode: str = ""
    mode_params: Any = None
    default_changed_at: dt.datetime | None = None

    @property
    def has_default(self) -> bool:
        return self.default_changed_at is not None and bool(self.default_mode or self.mode_params)


@dataclass(frozen=True)
class GroupControlView:
    """One group control as a DERControl of its group's program."""

    control_id: int
    group_id: int
    created_at: dt.datetime
    request: GroupControlRequest
    cancelled_at: dt.datetime | None = None
    superseded_at: dt.datetime | None = None

    @property
    def over_at(self) -> dt.datetime:
        """When it stopped being in force: its end, or its cancellation or supersession if earlier."""
        return min(t for t in (self.request.end_at, self.cancelled_at, self.superseded_at) if t is not None)


@dataclass(frozen=True)
class CurveView:
    curve_id: int
    created_at: dt.datetime
    curve_type: int  # DERCurveType in 2013 numbering (CURVE_VOLT_VAR …); `editions` renumbers for 2018
    points: tuple[tuple[float, float], ...]  # (V % of nominal or P % of rating, y in % of y_ref)
    y_ref_type: int = Y_PCT_VAR_AVAILABLE


@dataclass(frozen=True)
class ResponseView:
    response_id: int
    lfdi: str
    subject: str
    status: int
    created_at: dt.datetime


@dataclass(frozen=True)
class LogEventView:
    log_id: int
    created_at: dt.datetime
    function_set: int
    code: int
    event_id: int
    pen: int
    profile: int
    details: str = ""


@dataclass(frozen=True)
class SubscriptionView:
    sub_id: int
    resource: str
    notification_uri: str
    limit: int
    encoding: int = 0
    level: str = "+S1"
    namespace: str = NS_2013  # the edition the Subscription was written in: its Notifications' too


@dataclass(frozen=True)
class PendingNotification:
    """A subscriber to a DER's controls, and that DER's controls now (after a new set point)."""

    der_id: int
    sub: SubscriptionView
    controls: tuple[ControlView, ...]


@dataclass(frozen=True)
class PendingGroupNotification:
    """A member device's subscription to a group's control list, and that list now (after one of
    the group's controls was issued, cancelled or superseded)."""

    der_id: int
    sub: SubscriptionView
    group_id: int
    tail: str  # "derc" or "actderc": the list subscribed to
    controls: tuple[GroupControlView, ...]


@dataclass
class DerState:
    """What a client last PUT for its DER (capability, settings, status, availability)."""

    values: dict[str, float | int | str | None] = field(default_factory=dict)
    updated_at: dt.datetime | None = None


class Store(Protocol):
    """The registry as the 2030.5 server sees it. Every method is synchronous (runs on a worker
    thread) and raises Sep2Refusal for requests the registry refuses."""

    def identify(self, lfdi: str) -> Client | None: ...
    def note_namespace(self, client: Client, namespace: str) -> None: ...
    def end_devices(self, client: Client) -> list[EndDeviceView]: ...
    def end_device(self, client: Client, edev_id: int) -> EndDeviceView | None: ...
    def register_end_device(self, client: Client, lfdi: str, sfdi: int) -> int: ...
    def controls(self, der_id: int) -> list[ControlView]: ...  # as listed: `lists.controls`
    def control(self, der_id: int, setpoint_id: int) -> ControlView | None: ...
    def default_control(self, der_id: int) -> DefaultControlView: ...
    def curves(self, der_id: int) -> list[CurveView]: ...
    def program_counts(self, der_id: int) -> tuple[int, int]: ...  # len(controls), len(curves), read at once
    def group_programs(self, der_ids: tuple[int, ...]) -> list[GroupProgramView]: ...  # member of any
    def group_controls(self, group_id: int) -> list[GroupControlView]: ...  # as listed: `groups.listed`
    def group_control(self, group_id: int, control_id: int) -> GroupControlView | None: ...
    def der_state(self, der_id: int, kind: str) -> DerState: ...
    def put_der_state(self, client: Client, der_id: int, kind: str, values: dict[str, object]) -> None: ...
    def responses(self, client: Client) -> list[ResponseView]: ...
    def record_response(
        self, client: Client, lfdi: str, subject: str, status: int, t: dt.datetime
    ) -> int: ...
    def log_events(self, der_id: int) -> list[LogEventView]: ...
    def record_log_event(self, client: Client, der_id: int, event: LogEventView) -> int: ...
    def subscriptions(self, der_id: int) -> list[SubscriptionView]: ...
    def subscribe(self, client: Client, der_id: int, sub: SubscriptionView) -> int: ...
    def unsubscribe(self, client: Client, der_id: int, sub_id: int) -> None: ...
    def mirrors(self, client: Client) -> list[MirrorView]: ...
    def mirror(self, client: Client, mup_id: int) -> MirrorView | None: ...
    def save_mirror(self, client: Client, post: MirrorPost) -> tuple[int, bool]: ...
    # False when the client has no such mirror (nothing stored).
    def post_readings(self, client: Client, mup_id: int, readings: tuple[MeterReadingPost, ...]) -> bool: ...
    def delete_mirror(self, client: Client, mup_id: int) -> None: ...
    def reading_sets(self, mup_id: int, mrid: str) -> list[ReadingSetView]: ...  # one per UTC hour
    def readings(self, mup_id: int, mrid: str, start_s: int, end_s: int) -> list[ReadingValue]: ...
    def latest_setpoint_id(self) -> int: ...
    def notifications_since(self, after_id: int) -> tuple[int, list[PendingNotification]]: ...
    def latest_group_change(self) -> dt.datetime: ...
    def group_notifications_since(
        self, after: dt.datetime
    ) -> tuple[dt.datetime, list[PendingGroupNotification]]: ...
