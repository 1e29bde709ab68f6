"""Communication supervision of the IEEE 2030.5 devices, run by the 2030.5 server every half poll
period: a registered device of an active DER that sent no request (poll, status, mirror reading)
for three poll periods raises a communication alarm, cleared by its next request. The devices
behind one aggregator are one segment, and so are the devices that poll the server directly (all
of them silent at once is the server's own link): all silent, one "field segment down" alarm and
theirs suppressed (apps/alarms/engine/suppression.py), as the DNP3 gateway does for its DERs."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from apps.alarms.actions import do_clear_alarm, do_raise_alarm, do_suppress_alarms, do_unsuppress_alarms
from apps.alarms.engine.suppression import Segments
from apps.alarms.models import Alarm
from apps.der_registry.engine.sep2.contact import MISSED_POLLS, ContactBook, silent
from apps.der_registry.models import Sep2EndDevice

log = logging.getLogger(__name__)
SOURCE = "system"
COMM = Alarm.Kind.COMM_FAILURE
SEGMENT = Alarm.Kind.SEGMENT_DOWN
# Devices that reach the server on their own share one path at its end: all of them silent at once
# is the server's own link, one alarm; some of them silent are their own alarms.
DIRECT = "IEEE 2030.5 devices polling this server"


@dataclass
class _Device:
    der_id: int
    name: str
    segment: str
    silent_s: float | None  # how long silent, None while it talks


@dataclass
class Sep2Supervisor:
    contact: ContactBook
    poll_s: float
    segments: Segments = field(default_factory=Segments)

    def _devices(self, now_s: float) -> list[_Device]:
        out = []
        for edev in Sep2EndDevice.objects.filter(der__status="active").select_related("der", "aggregator"):
            reported = [dt.datetime.fromisoformat(t).timestamp() for t in edev.reported_at.values()]
            heard = [t for t in (self.contact.last(edev.der_id), *reported) if t is not None]
            last = max(heard) if heard else None
            since = edev.registered_at.timestamp()
            quiet = silent(last, now_s, self.poll_s, since)
            behind = edev.aggregator
            segment = f"2030.5 devices behind {behind.name}" if behind else DIRECT
            silent_s = now_s - (last or since) if quiet else None
            out.append(_Device(edev.der_id, edev.der.name, segment, silent_s))
        return out

    def step(self, now_s: float) -> None:
        devices = self._devices(now_s)
        by_key = {str(d.der_id): d for d in devices}
        # From the database, not memory: a restarted server clears what the one before raised.
        alarmed = set(
            Alarm.objects.filter(
                kind=COMM, source_type="der", source_id__in=list(by_key), cleared_at__isnull=True
            ).values_list("source_id", flat=True)
        )
        for key, d in by_key.items():
            if d.silent_s is None and key in alarmed:
                where = {"kind": COMM, "source_type": "der", "source_id": key}
                do_clear_alarm(None, SOURCE, note="heard again", **where)
        in_alarm = {key: d.silent_s is not None for key, d in by_key.items()}
        silent_now = [key for key, silent in in_alarm.items() if silent and key not in alarmed]
        segment_of = {key: d.segment for key, d in by_key.items()}
        found = self.segments.step(now_s, in_alarm, segment_of, silent_now)
        for segment in found.went_down:
            self._segment(segment, [k for k, s in segment_of.items() if s == segment], True)
        for segment in found.came_up:  # its devices heard by now clear still suppressed
            self._segment(segment, [], False)
        for segment in found.stragglers:  # still silent after the rest came back: their own alarm
            ids = [k for k, s in segment_of.items() if s == segment]
            do_unsuppress_alarms(None, SOURCE, kind=COMM, source_type="der", source_ids=ids, by=segment)
        for key in found.suppressed + found.alone:
            self._raise(by_key[key], by_key[key].segment if key in found.suppressed else "")

    def _raise(self, d: _Device, suppressed_by: str) -> None:
        message = (
            f"{d.name} (IEEE 2030.5) has not polled or posted for {d.silent_s or 0:.0f} s "
            f"({MISSED_POLLS} poll periods of {self.poll_s:g} s)."
        )
        do_raise_alarm(
            None, SOURCE, kind=COMM, source_type="der", source_id=d.der_id, source_label=d.name,
            message=message, suppressed_by=suppressed_by,
        )  # fmt: skip

    def _segment(self, segment: str, der_ids: list[str], is_down: bool) -> None:
        where = {"kind": SEGMENT, "source_type": "segment", "source_id": segment}
        if is_down:
            text = f"All {len(der_ids)} {segment} have stopped polling: the path they share is down."
            do_raise_alarm(None, SOURCE, source_label=segment, message=text, **where)
            do_suppress_alarms(None, SOURCE, kind=COMM, source_type="der", source_ids=der_ids, by=segment)
        else:  # the devices still silent GRACE_S later become the operator's (see step)
            do_clear_alarm(None, SOURCE, note="polling again", **where)
