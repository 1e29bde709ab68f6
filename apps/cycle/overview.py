"""The operator's overview (issue #14 item 1): the cycle running now and the last twelve, and one tile
per DSO interface — requested against achieved Q, the range as a bar with the request marked, the
shortfall and its cause, fallback and communication state, dispatch mode and the TSO–DSO traffic
light (apps/cycle/engine/overview.py). A bounded number of queries whatever the number of DSOs:
the page must answer fast with fifty of them and a long alarm history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from apps.alarms.models import Alarm
from apps.cycle.actions import control
from apps.cycle.engine.overview import LIGHT_LABEL, Bar, DsoState, range_bar, traffic_light
from apps.cycle.engine.schedule import seconds_to_next
from apps.cycle.models import Cycle, StageRun
from apps.dms.models import Feeder
from apps.ems.models import DsoEndpoint, DsoMessage

STRIP = 12
WATCHED = (Alarm.Kind.LINK_DOWN, Alarm.Kind.DMS_SILENT, Alarm.Kind.FALLBACK)


@dataclass(frozen=True)
class DsoTile:
    endpoint: DsoEndpoint
    message: DsoMessage | None
    light: str
    reason: str
    mark: str
    light_label: str
    bar: Bar | None
    mode: str
    alarms: list[str]  # the active link/DMS/fallback alarms, in words

    @property
    def requested_kvar(self) -> float | None:
        m = self.message
        return m.q_request_kvar * m.count if m is not None else None

    @property
    def achieved_kvar(self) -> float | None:
        m = self.message
        return m.q_achieved_kvar * m.count if m is not None and m.q_achieved_kvar is not None else None


def _latest_messages(buses: list[int], now: dt.datetime, interval_s: float) -> dict[int, DsoMessage]:
    """The message each tile shows: the newest to its bus — unless that one is still in flight (not
    answered, its interval not over), when the newest answered one stands until the answer comes:
    a DSO is not "unavailable" for the seconds every cycle waits for it. Two queries (DISTINCT ON)."""

    def newest(qs: Any) -> dict[int, DsoMessage]:
        return {m.bus: m for m in qs.order_by("bus", "-run_id", "-id").distinct("bus")}

    sent = DsoMessage.objects.filter(bus__in=buses)
    latest, answered = newest(sent), newest(sent.filter(answered_at__isnull=False))
    in_flight_since = now - dt.timedelta(seconds=interval_s)
    return {
        bus: answered[bus]
        if m.answered_at is None and m.interval_start > in_flight_since and bus in answered
        else m
        for bus, m in latest.items()
    }


Alarms = dict[tuple[str, str], str]


def _tile(endpoint: DsoEndpoint, message: DsoMessage | None, alarms: Alarms, mode: str) -> DsoTile:
    bus, feeder = str(endpoint.bus), endpoint.name
    state = DsoState(
        link_down=(Alarm.Kind.LINK_DOWN, bus) in alarms,
        dms_silent=(Alarm.Kind.DMS_SILENT, bus) in alarms,
        dms_healthy=message.dms_healthy if message is not None and message.answered_at else None,
        in_fallback=(Alarm.Kind.FALLBACK, feeder) in alarms or bool(message and message.fallback_active),
        shortfall_kvar=message.dms_q_shortfall_kvar if message is not None else None,
        violations_left=message.dms_violations_left if message is not None else None,
    )
    light, reason = traffic_light(state)
    mark, label = LIGHT_LABEL[light]
    bar = None
    if message is not None:
        achieved = message.q_achieved_kvar
        bar = range_bar(message.q_min_kvar, message.q_max_kvar, message.q_request_kvar, achieved)
    mine = [text for (kind, source), text in alarms.items() if source in (bus, feeder)]
    return DsoTile(endpoint, message, light, reason, mark, label, bar, mode, mine)


def _alarms() -> Alarms:
    """(kind, source id) → the alarm's message, for the active link, DMS and fallback alarms."""
    active = Alarm.objects.filter(cleared_at__isnull=True, kind__in=WATCHED)
    return {(a.kind, a.source_id): f"{a.get_kind_display()}: {a.message}" for a in active}


def _modes(names: list[str]) -> dict[str, str]:
    labels = {"automatic": "automatic", "manual": "manual (operator approves)", "disabled": "disabled"}
    found = Feeder.objects.filter(name__in=names).values_list("name", "dispatch_mode")
    return {name: labels.get(mode, mode) for name, mode in found}


def overview_context(now: dt.datetime) -> dict[str, Any]:
    cycles = list(Cycle.objects.order_by("-interval_start")[:STRIP])
    current = cycles[0] if cycles else None
    running = None
    if current is not None and current.status == Cycle.Status.RUNNING:
        running = StageRun.objects.filter(cycle=current, outcome="running").order_by("-started_at").first()
    settings = control()
    endpoints = list(DsoEndpoint.objects.order_by("bus"))
    messages = _latest_messages([e.bus for e in endpoints], now, settings.interval_s)
    alarms, modes = _alarms(), _modes([e.name for e in endpoints])
    no_feeder = "— (no DMS feeder of this name)"
    tiles = [_tile(e, messages.get(e.bus), alarms, modes.get(e.name, no_feeder)) for e in endpoints]
    next_in_s = seconds_to_next(now.timestamp(), settings.interval_s)
    return {
        "current": current,
        "running_stage": running,
        "last_ended": next((c for c in cycles if c.status != Cycle.Status.RUNNING), None),
        "strip": list(reversed(cycles)),
        "control": settings,
        "next_at_ms": int((now.timestamp() + next_in_s) * 1000),
        "next_in_s": round(next_in_s),
        "tiles": tiles,
        "lights": {c: sum(1 for t in tiles if t.light == c) for c in ("green", "amber", "red")},
    }
