"""The DMS's end of the EMS link (docs/protocols/dnp3-ems-dms.md): a DNP3 outstation per DSO
interface, hosted by the DNP3 gateway's loop (docs/adr/0008-dnp3-gateway.md).

A complete EMS request (``interval_id`` written last) becomes a dispatch of the interface's feeder
through ``do_request_dispatch`` (audited, source "ems") and the Celery dispatch task; when the run
ends, the outstation answers with what the run stored: achieved Q, next interval's range, and the DMS's
own view — its feeder count, the request as it took it, the Q shortfall with its cause and the voltage
violations left. A request the DMS cannot dispatch is answered with ``dms_healthy`` off and
``fallback_active`` on, the whole request as the shortfall ("not dispatched"), and raises a
``dispatch_refused`` alarm.

The outstation calls back on the DNP3 stack's threads; those callbacks only queue. Everything that
touches the database runs in ``step``, on the gateway's one thread."""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.dms.actions import DispatchError, do_request_dispatch
from apps.dms.engine.dnp3.dms_outstation import DmsAnswer, DmsOutstation, EmsRequest, dispatch_outcome
from apps.dms.engine.dnp3.ems_dms_frame import interface_total, per_feeder
from apps.dms.engine.dnp3.stack import TlsFiles
from apps.dms.models import DispatchRun

log = logging.getLogger(__name__)
SOURCE = "ems"
REFUSED = "dispatch_refused"
CHECK_EVERY_S = 0.5  # how often the loop looks at the runs it waits for
# Any other status has ended; a failed run is no answer of its own (the EMS hears the previous one).
UNFINISHED = (DispatchRun.Status.QUEUED, DispatchRun.Status.RUNNING)


@dataclass(frozen=True)
class DsoConfig:
    """One DSO interface: `count` identical copies of `feeder` behind one transmission bus."""

    feeder: str
    port: int
    count: int = 1
    address: int = 10
    host: str = "127.0.0.1"


def parse_feeder(text: str) -> tuple[str, int]:
    """``ieee123`` or ``ieee123:4`` → (name, count); ValueError in words an operator understands."""
    name, _, count = text.partition(":")
    if not name.strip():
        raise ValueError(f"{text!r}: write the feeder's name, optionally :COUNT (e.g. ieee123:4).")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise ValueError(f"{text!r}: the feeder count must be a whole number, not {count!r}.") from None
    if n < 1:
        raise ValueError(f"{text!r}: the feeder count must be at least 1.")
    return name.strip(), n


class DsoServer:
    def __init__(self, config: DsoConfig, tls: TlsFiles | None = None) -> None:
        self.config = config
        self.inbox: queue.SimpleQueue[EmsRequest | str] = queue.SimpleQueue()
        # dispatch run id → the EMS interval it answers and the Q it was asked for (wire total)
        self.pending: dict[int, tuple[int, float]] = {}
        self._checked_at = 0.0
        self.outstation = DmsOutstation(
            config.port,
            config.address,
            config.host,
            tls,
            on_request=self.inbox.put,
            on_refused=self.inbox.put,
            feeder_count=config.count,
        )
        self.outstation.answer(self._previous(0, healthy=True, received_kvar=0.0))

    def step(self) -> None:
        """Start dispatches for requests that arrived, answer the runs that ended."""
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            try:
                if isinstance(item, EmsRequest):
                    self._dispatch(item)
                else:
                    self._refused(None, f"a value was refused at the DNP3 interface: {item}")
            except Exception:  # the link must outlive one request the database did not take
                log.exception("EMS request on feeder %s not handled", self.config.feeder)
        now = time.monotonic()
        if self.pending and now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self._collect()

    def close(self) -> None:
        self.outstation.close()

    def _dispatch(self, request: EmsRequest) -> None:
        interval = int(request.interval_id or 0)
        missing = [f for f in ("q_request_kvar", "v_set_pu") if getattr(request, f) is None]
        if missing:
            self._refused(interval, f"the request lacks {' and '.join(missing)}", 0.0)
            return
        count = self.config.count
        assert request.q_request_kvar is not None and request.v_set_pu is not None
        try:
            run = do_request_dispatch(
                None,
                SOURCE,
                self.config.feeder,
                q_kvar=per_feeder(request.q_request_kvar, count),
                v_sub_pu=request.v_set_pu,
                pv_curtailment_kw=per_feeder(request.pv_curtail_kw or 0.0, count),
                dr_kw=per_feeder(request.dr_kw or 0.0, count),
                trigger=DispatchRun.Trigger.EMS,
                reason="EMS request",
                ems_request_id=interval or None,
            )
        except DispatchError as exc:
            self._refused(interval, str(exc), request.q_request_kvar)
            return
        self.pending[run.pk] = (interval, request.q_request_kvar)

    def _collect(self) -> None:
        ended = DispatchRun.objects.filter(pk__in=list(self.pending)).exclude(status__in=UNFINISHED)
        for run in ended:
            interval, received = self.pending.pop(run.pk)
            if run.status != DispatchRun.Status.FAILED:
                self.outstation.answer(self._answer(run, interval, received))
                do_clear_alarm(
                    None, SOURCE, kind=REFUSED, source_type="feeder", source_id=self.config.feeder,
                    note=f"dispatch run {run.pk} done",
                )  # fmt: skip
            else:
                self._refused(interval, run.error or "the dispatch failed", received)

    def _answer(
        self, run: DispatchRun, interval: int, received_kvar: float, healthy: bool = True
    ) -> DmsAnswer:
        """What a finished run achieved and offers next, as wire totals; with no flexibility known
        both limits equal the achieved Q (no room is claimed). A refused or failed request (not
        healthy) answers with this earlier run, and the whole request is short: "not dispatched"."""
        n = self.config.count
        achieved = float(run.q_achieved_kvar or 0.0)
        flex = run.result.get("flexibility") or {}
        low = flex.get("q_min_kvar")
        high = flex.get("q_max_kvar")
        outcome = dispatch_outcome(run.result)
        short, cause = interface_total(outcome.q_shortfall_kvar, n), outcome.cause
        if not healthy:
            short, cause = abs(received_kvar - interface_total(achieved, n)), "not dispatched"
        return DmsAnswer(
            q_achieved_kvar=interface_total(achieved, n),
            q_min_kvar=interface_total(achieved if low is None else float(low), n),
            q_max_kvar=interface_total(achieved if high is None else float(high), n),
            interval_id=interval,
            healthy=healthy,
            fallback_active=not healthy,
            q_received_kvar=received_kvar,
            q_shortfall_kvar=short,
            shortfall_cause=cause,
            violations_left=outcome.violations_left,
        )

    def _previous(self, interval: int, healthy: bool, received_kvar: float) -> DmsAnswer:
        """The last dispatched state of the feeder (all zero when it never had one)."""
        runs = DispatchRun.objects.filter(feeder__name=self.config.feeder)
        last = runs.exclude(status__in=[*UNFINISHED, DispatchRun.Status.FAILED]).first()
        if last is None:
            short = 0.0 if healthy else abs(received_kvar)
            return DmsAnswer(
                0.0,
                0.0,
                0.0,
                interval,
                healthy=healthy,
                fallback_active=not healthy,
                q_received_kvar=received_kvar,
                q_shortfall_kvar=short,
                shortfall_cause="" if healthy else "not dispatched",
            )
        return self._answer(last, interval, received_kvar, healthy)

    def _refused(self, interval: int | None, reason: str, received_kvar: float = 0.0) -> None:
        """Tell the EMS (unhealthy, fallback: the previous interval's set points stay) and the operator."""
        label = f"{self.config.feeder} (EMS link, port {self.config.port})"
        log.warning("EMS request on %s refused: %s", self.config.feeder, reason)
        if interval is not None:
            self.outstation.answer(self._previous(interval, healthy=False, received_kvar=received_kvar))
        do_raise_alarm(
            None,
            SOURCE,
            kind=REFUSED,
            source_type="feeder",
            source_id=self.config.feeder,
            source_label=label,
            message=f"EMS request refused on feeder {self.config.feeder}: {reason}",
        )
