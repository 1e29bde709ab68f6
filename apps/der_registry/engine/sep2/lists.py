"""The order 2030.5 lists are served in (each list type has a primary, secondary and tertiary key in
the standard; a client walks a list in that order and pages through it), and which DERControls a
DERControlList still carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from apps.der_registry.engine.sep2.mirror import MirrorView
from apps.der_registry.engine.sep2.model import (
    ControlView,
    CurveView,
    EndDeviceView,
    LogEventView,
    ResponseView,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.xmlcodec import epoch

# A superseded control stays listed this long after it was issued, so a device that polls now and then
# still sees it marked superseded; after that only its item URL answers. Without pruning, a restarting
# client walked every control the DER ever had (up to 255 list entries).
SUPERSEDED_KEPT_S = 3600.0


def controls(views: Sequence[ControlView], now: dt.datetime) -> list[ControlView]:
    """The controls in force or issued within SUPERSEDED_KEPT_S, by interval.start ascending, then
    creationTime descending, then mRID descending (our controls start when they are issued)."""
    if not views:
        return []
    newest = max(views, key=lambda v: (v.issued_at, v.setpoint_id))
    kept = [v for v in views if v is newest or (now - v.issued_at).total_seconds() <= SUPERSEDED_KEPT_S]
    return sorted(kept, key=lambda v: (epoch(v.issued_at), -epoch(v.issued_at), -v.setpoint_id))


def curves(views: Sequence[CurveView]) -> list[CurveView]:
    """creationTime descending, mRID descending."""
    return sorted(views, key=lambda v: (-epoch(v.created_at), -v.curve_id))


def end_devices(views: Sequence[EndDeviceView]) -> list[EndDeviceView]:
    """sFDI ascending, href ascending."""
    return sorted(views, key=lambda v: (v.sfdi, f"/edev/{v.edev_id}"))


def responses(views: Sequence[ResponseView]) -> list[ResponseView]:
    """createdDateTime descending, endDeviceLFDI ascending."""
    return sorted(views, key=lambda v: (-epoch(v.created_at), v.lfdi, -v.response_id))


def log_events(views: Sequence[LogEventView]) -> list[LogEventView]:
    """createdDateTime ascending, logEventID ascending."""
    return sorted(views, key=lambda v: (epoch(v.created_at), v.event_id, v.log_id))


def subscriptions(edev_id: int, views: Sequence[SubscriptionView]) -> list[SubscriptionView]:
    """href ascending (as strings: /sub/10 before /sub/9)."""
    return sorted(views, key=lambda v: f"/edev/{edev_id}/sub/{v.sub_id}")


def mirrors(views: Sequence[MirrorView]) -> list[MirrorView]:
    """mRID descending."""
    return sorted(views, key=lambda v: v.mrid.upper(), reverse=True)
