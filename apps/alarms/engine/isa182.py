"""Alarm management after ISA-18.2 / IEC 62682, free of Django: the four states an alarm passes
through, priorities and how they are shown, shelving, chattering and stale alarms.

* States (ISA-18.2 §5.6): an alarm is raised unacknowledged and active; an operator acknowledges it
  (acknowledged active) or its condition clears first (unacknowledged, returned to normal); both
  done, it is normal and leaves the operator's list.
* Priority is set per alarm kind by an admin (four levels; the alarm philosophy document of the
  site says which kind gets which) and shown by shape and words as well as colour, so it reads on
  a monochrome display and to a colour-blind operator.
* Shelving takes an alarm off the operator's list for a while without touching the condition: for
  a time no longer than the admin's limit, or "one-shot" — until its condition clears.
* Chattering: an alarm of one kind and source that activates three or more times within a minute
  (ISA-18.2 §16.6, EEMUA 191 Appendix 6). Stale: active for more than 24 hours."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

PRIORITIES = ("critical", "high", "medium", "low")
# Shape and words for each priority (ISA-101: never colour alone).
PRIORITY_MARK = {"critical": "◆", "high": "▲", "medium": "■", "low": "●"}
# The kinds the system raises and the priority each has until an admin says otherwise: what
# stops the cycle or leaves the grid outside its limits first, what degrades it next.
DEFAULT_PRIORITY = {
    "cycle_failed": "critical",
    "violation": "critical",
    "ems_link_down": "high",
    "dms_silent": "high",
    "fallback": "high",
    "segment_down": "high",
    "dispatch_refused": "high",
    "dso_shortfall": "medium",
    "dso_mismatch": "medium",
    "overrun": "medium",
    "comm_failure": "low",
    "der_report": "low",
}
CHATTER_COUNT = 3  # activations …
CHATTER_WINDOW_S = 60.0  # … within this long
STALE_AFTER = dt.timedelta(hours=24)
SHELF_LIMIT_MINUTES = 480  # the admin's limit on a timed shelf until they set one (one shift)
SHELF_LIMIT_RANGE = (5, 7 * 24 * 60)  # what an admin may set: 5 minutes to a week


class State(StrEnum):
    UNACK_ACTIVE = "unack_active"
    ACK_ACTIVE = "ack_active"
    UNACK_RTN = "unack_rtn"
    NORMAL = "normal"


STATE_LABEL = {
    State.UNACK_ACTIVE: "Unacknowledged, active",
    State.ACK_ACTIVE: "Acknowledged, active",
    State.UNACK_RTN: "Unacknowledged, returned to normal",
    State.NORMAL: "Normal",
}


def state(active: bool, acknowledged: bool) -> State:
    if active:
        return State.ACK_ACTIVE if acknowledged else State.UNACK_ACTIVE
    return State.NORMAL if acknowledged else State.UNACK_RTN


@dataclass(frozen=True)
class Shelf:
    """How an alarm is shelved: until a time, or (one-shot) until its condition clears."""

    until: dt.datetime | None
    one_shot: bool

    def holds(self, now: dt.datetime, active: bool) -> bool:
        if self.one_shot:
            return active
        return self.until is not None and now < self.until


def shelf_for(minutes: float | None, limit_minutes: int, now: dt.datetime) -> Shelf:
    """The shelf an operator asks for: `minutes` (timed, at most the admin's limit) or None
    (one-shot); ValueError in words otherwise."""
    if minutes is None:
        return Shelf(None, True)
    if not 1 <= minutes <= limit_minutes:  # also refuses NaN
        raise ValueError(
            f"A timed shelf lasts 1 to {limit_minutes} minutes (the limit an admin set), not {minutes:g}."
        )
    return Shelf(now + dt.timedelta(minutes=minutes), False)


def chattering(activations: Iterable[dt.datetime], now: dt.datetime) -> bool:
    """Three or more activations of one alarm (kind and source) within the last minute."""
    since = now - dt.timedelta(seconds=CHATTER_WINDOW_S)
    return sum(1 for t in activations if since <= t <= now) >= CHATTER_COUNT


def stale(raised_at: dt.datetime, now: dt.datetime, active: bool) -> bool:
    return active and now - raised_at > STALE_AFTER
