"""The DNP3 gateway's Django side: which DERs to talk to (the registry), what to send (issued set
points), where measurements and communication alarms go (registry monitoring, alarms).

The protocol work happens in apps.dms.engine.dnp3 on the stack's own threads; everything that
touches the database happens here, in the gateway's one thread (docs/adr/0008-dnp3-gateway.md)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from apps.alarms.actions import do_clear_alarm, do_raise_alarm, do_suppress_alarms, do_unsuppress_alarms
from apps.alarms.engine.comm import CommWatch, Decision
from apps.alarms.engine.suppression import Segments
from apps.alarms.models import Alarm
from apps.der_registry.actions import RegistryError, do_record_monitoring, do_record_setpoint_delivery
from apps.der_registry.models import DER, SetPoint
from apps.dms.engine.dnp3 import der_maps, points
from apps.dms.engine.dnp3.master import CommandOutcome, Endpoint, LinkEvent, MasterOptions, MasterPool
from apps.dms.engine.dnp3.stack import TlsFiles
from apps.dms.rtu import RtuReader

log = logging.getLogger(__name__)
SOURCE = "system"
COMM = Alarm.Kind.COMM_FAILURE
SEGMENT = Alarm.Kind.SEGMENT_DOWN


@dataclass
class GatewayOptions:
    timeout_s: float | None = None  # None: each DER's expected telemetry update period
    record_every_s: float = 5.0  # at most one monitoring sample per DER this often
    # How often the registry's DER list is read again: a DER suspended, decommissioned or re-addressed
    # is dropped or re-linked within this (None: one event poll, the master's `event_poll_s`).
    reload_every_s: float | None = None
    master: MasterOptions = field(default_factory=MasterOptions)
    tls: TlsFiles | None = None
    feeders: tuple[str, ...] = ()  # only these feeders' DERs; () for all


@dataclass
class _InFlight:
    setpoint_id: int
    futures: list[Future[CommandOutcome]]
    key: str = ""  # the DER's link


_LINK_FIELDS = (
    "name", "dnp3_host", "dnp3_port", "dnp3_outstation_address", "dnp3_master_address", "dnp3_tls",
    "dnp3_point_map", "dnp3_ao_variation", "expected_update_s",
)  # fmt: skip


@dataclass(frozen=True)
class _LinkSpec:
    """What a DER's link is made of; a change to any of it in the registry re-links the DER."""

    endpoint: Endpoint
    point_map: str
    variation: str


def dnp3_ders(feeders: tuple[str, ...] = ()) -> Any:
    ders = DER.objects.filter(comm_path="dnp3_direct", status="active").exclude(
        Q(dnp3_host="") | Q(dnp3_port__isnull=True) | Q(dnp3_outstation_address__isnull=True)
    )
    return ders.filter(feeder__name__in=feeders) if feeders else ders


def measurement(values: dict[str, float]) -> dict[str, Any]:
    """DER point values (either map) → the registry's monitoring fields."""
    out: dict[str, Any] = {k: values[k] for k in ("p_kw", "q_kvar", "v_pu", "f_hz") if k in values}
    if "v_pu" not in out and (v_pu := der_maps.v_pu(values)) is not None:
        out["v_pu"] = v_pu
    if "operating_state" in values:
        out["operating_state"] = points.operating_state_name(values["operating_state"])
    elif (state := der_maps.operating_state(values)) is not None:
        out["operating_state"] = state
    if "connected" in values:
        out["connection_status"] = "connected" if values["connected"] else "disconnected"
    return out


class Dnp3Gateway:
    def __init__(self, options: GatewayOptions | None = None) -> None:
        self.options = options or GatewayOptions()
        self.pool = MasterPool(self.options.master)
        self.ders: dict[str, tuple[int, str]] = {}  # link key → (der id, name)
        self.specs: dict[str, _LinkSpec] = {}
        self.skipped: set[str] = set()  # DERs asking for TLS the gateway has no certificates for
        self.watches: dict[str, CommWatch] = {}
        self.values: dict[str, dict[str, float]] = {}
        self.recorded_at: dict[str, float] = {}
        self.dirty: set[str] = set()
        self.in_flight: dict[int, _InFlight] = {}
        self.dso_servers: list[Any] = []  # apps.dms.dso_server.DsoServer: the EMS link's outstations
        self.rtus: list[RtuReader] = []  # the substation RTUs whose head readings it records
        # Suppression by design: the DERs one network address reaches are one segment.
        self.segment_of: dict[str, str] = {}  # link key → segment name
        self.segments = Segments()
        self._loaded_at = 0.0

    def load(self) -> int:
        """Bring the links in line with the registry: link every active DNP3 DER not linked yet, drop
        the ones no longer active (suspended, decommissioned, moved off DNP3), re-link the ones whose
        address or DNP3 profile changed. Returns how many are linked."""
        now = time.time()
        wanted = {str(der.pk): der for der in dnp3_ders(self.options.feeders).only(*_LINK_FIELDS)}
        gone = [k for k in self.ders if k not in wanted]
        status = dict(DER.objects.filter(pk__in=[self.ders[k][0] for k in gone]).values_list("pk", "status"))
        for key in gone:
            now_is = status.get(self.ders[key][0], "deleted")
            self._drop(key, f"it is {now_is}" if now_is != "active" else "it is no longer a DNP3 DER here")
        for key, der in wanted.items():
            spec = self._spec(der)
            if key in self.ders and spec == self.specs.get(key):
                self._rename(key, der)
                continue
            if key in self.ders:
                self._drop(key, "its DNP3 settings changed in the registry")
            if spec is not None:
                self._link(key, der, spec, now)
                self.skipped.discard(key)
            elif key not in self.skipped:  # said once, not every poll
                log.warning(
                    "%s asks for DNP3 over TLS but the gateway has no certificates; skipped", der.name
                )
                self.skipped.add(key)
        self._loaded_at = now
        return len(self.ders)

    def _rename(self, key: str, der: DER) -> None:
        """A name or expected update period edited: the link stays, its supervision follows."""
        self.ders[key] = (der.pk, der.name)
        self.watches[key].timeout_s = self._timeout(der)

    def _spec(self, der: DER) -> _LinkSpec | None:
        tls = self.options.tls if der.dnp3_tls else None
        if der.dnp3_tls and tls is None:
            return None
        endpoint = Endpoint(
            der.dnp3_host,
            int(der.dnp3_port or 0),
            int(der.dnp3_outstation_address or 0),
            int(der.dnp3_master_address or 1),
            tls,
        )
        return _LinkSpec(endpoint, der.dnp3_point_map, der.dnp3_ao_variation)

    def _timeout(self, der: DER) -> float:
        return self.options.timeout_s or float(der.expected_update_s)

    def _link(self, key: str, der: DER, spec: _LinkSpec, now: float) -> None:
        dialect = der_maps.DER_MAPS.get(spec.point_map, der_maps.DER_MAPS["compact"])
        self.pool.add(key, spec.endpoint, dialect, spec.variation)
        self.ders[key] = (der.pk, der.name)
        self.specs[key] = spec
        self.segment_of[key] = f"DNP3 DERs at {spec.endpoint.host}"
        self.watches[key] = CommWatch(timeout_s=self._timeout(der), started_s=now)

    def _drop(self, key: str, why: str) -> None:
        """Take a DER's link down and forget its supervision: no alarm is raised for it from now on,
        one it had clears, a set point it had not confirmed fails with the reason."""
        self.pool.remove(key)
        der_id, name = self.ders.pop(key)
        self.specs.pop(key, None)
        watch = self.watches.pop(key)
        self.segment_of.pop(key, None)
        self.segments.holding.release(key)
        for store in (self.values, self.recorded_at):
            store.pop(key, None)
        self.dirty.discard(key)
        if watch.in_alarm:
            do_clear_alarm(
                None,
                SOURCE,
                kind=COMM,
                source_type="der",
                source_id=der_id,
                note=f"{name}: no longer linked, {why}",
            )
        for sp_id, flight in list(self.in_flight.items()):
            if flight.key == key:
                del self.in_flight[sp_id]
                do_record_setpoint_delivery(
                    None, SOURCE, sp_id, False, f"not confirmed: {name} unlinked, {why}"
                )
        log.info("%s unlinked: %s", name, why)

    def step(self, wait_s: float = 0.2) -> None:
        """One round: fold link events, store measurements, raise/clear alarms, send set points."""
        for event in self.pool.drain(wait_s):
            if not any(rtu.on_event(event) for rtu in self.rtus):
                self._on_event(event)
        now = time.time()
        self._record(now)
        for rtu in self.rtus:
            rtu.step(now)
        self._supervise(now)
        self._finish_setpoints()
        self._send_setpoints()
        for server in self.dso_servers:
            server.step()
        reload_s = self.options.reload_every_s or self.options.master.event_poll_s
        if now - self._loaded_at >= reload_s:
            self.load()

    def run(self, stop: threading.Event) -> None:
        self.load()
        while not stop.is_set():
            self.step()

    def close(self) -> None:
        for server in self.dso_servers:
            server.close()
        self.pool.close()

    def _on_event(self, event: LinkEvent) -> None:
        watch = self.watches.get(event.key)
        if watch is None:
            return
        if event.kind == "values":
            self.values.setdefault(event.key, {}).update(event.values)
            self.dirty.add(event.key)
            decision = watch.answered(event.t_s)
        elif event.kind == "answered":
            decision = watch.answered(event.t_s)
        elif event.kind == "link_down":
            watch.link_down(event.t_s)
            decision = Decision.NONE
        else:
            watch.no_answer(event.t_s, event.detail)
            decision = Decision.NONE
        if decision is Decision.CLEAR:
            self._clear(event.key)

    def _record(self, now: float) -> None:
        for key in list(self.dirty):
            if now - self.recorded_at.get(key, 0.0) >= self.options.record_every_s:
                self._store(key, now)

    def _store(self, key: str, now: float) -> None:
        self.dirty.discard(key)
        self.recorded_at[key] = now
        try:
            do_record_monitoring(None, SOURCE, self.ders[key][0], measurement(self.values[key]))
        except (RegistryError, ValueError) as exc:  # a device reporting nonsense: store nothing, say so
            log.warning("monitoring of %s refused: %s", self.ders[key][1], exc)

    def flush(self) -> None:
        """Store every measurement held back by the rate limit (at shutdown, and in tests)."""
        now = time.time()
        for key in list(self.dirty):
            self._store(key, now)

    def _supervise(self, now: float) -> None:
        """Raise the DERs' communication alarms — one for a segment all of whose DERs went silent,
        whose own alarms are then suppressed (apps/alarms/engine/suppression.py)."""
        silent_now = [key for key, watch in self.watches.items() if watch.check(now) is Decision.RAISE]
        in_alarm = {key: watch.in_alarm for key, watch in self.watches.items()}
        found = self.segments.step(now, in_alarm, self.segment_of, silent_now)
        for segment in found.went_down:
            self._segment_down(segment, sum(1 for s in self.segment_of.values() if s == segment))
        for segment in found.came_up:  # its DERs that answered by now clear still suppressed
            do_clear_alarm(
                None, SOURCE, kind=SEGMENT, source_type="segment", source_id=segment, note="answers again"
            )
        for segment in found.stragglers:  # still silent after the rest came back: their own failure
            ids = self._in_segment(segment)
            do_unsuppress_alarms(None, SOURCE, kind=COMM, source_type="der", source_ids=ids, by=segment)
        for key in found.suppressed + found.alone:
            self._raise(key, self.segment_of[key] if key in found.suppressed else "")

    def _raise(self, key: str, suppressed_by: str) -> None:
        der_id, name = self.ders[key]
        message = f"{name} (DNP3) does not answer: {self.watches[key].reason}."
        do_raise_alarm(
            None, SOURCE, kind=COMM, source_type="der", source_id=der_id, source_label=name,
            message=message, suppressed_by=suppressed_by,
        )  # fmt: skip

    def _in_segment(self, segment: str) -> list[str]:
        return [str(self.ders[k][0]) for k, s in self.segment_of.items() if s == segment]

    def _segment_down(self, segment: str, count: int) -> None:
        do_raise_alarm(
            None, SOURCE, kind=SEGMENT, source_type="segment", source_id=segment, source_label=segment,
            message=f"All {count} {segment} have stopped answering: the path to them is down. "
            "Their own communication alarms are suppressed while it lasts.",
        )  # fmt: skip
        do_suppress_alarms(
            None, SOURCE, kind=COMM, source_type="der", source_ids=self._in_segment(segment), by=segment
        )

    def _clear(self, key: str) -> None:
        der_id, name = self.ders[key]
        do_clear_alarm(
            None, SOURCE, kind=COMM, source_type="der", source_id=der_id, note=f"{name} answers again"
        )

    def _send_setpoints(self) -> None:
        ids = [der_id for der_id, _ in self.ders.values()]
        pending = SetPoint.objects.filter(status="issued", der_id__in=ids).exclude(
            pk__in=list(self.in_flight)
        )
        for sp in pending.order_by("issued_at", "id"):
            link = self.pool.links[str(sp.der_id)]
            futures = []
            if sp.p_limit_kw is not None:
                futures.append(link.operate("p_limit_kw", sp.p_limit_kw))
            if sp.q_kvar is not None:
                futures.append(link.operate("q_set_kvar", sp.q_kvar))
            if not futures:
                do_record_setpoint_delivery(None, SOURCE, sp.pk, False, "nothing a DNP3 DER can carry out")
                continue
            self.in_flight[sp.pk] = _InFlight(sp.pk, futures, str(sp.der_id))

    def _finish_setpoints(self) -> None:
        for sp_id, flight in list(self.in_flight.items()):
            if not all(f.done() for f in flight.futures):
                continue
            del self.in_flight[sp_id]
            failed = [f.result() for f in flight.futures if not f.result().ok]
            reason = failed[0].reason if failed else "confirmed by the device"
            do_record_setpoint_delivery(None, SOURCE, sp_id, not failed, reason)
