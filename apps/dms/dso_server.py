"""The DMS's end of the EMS link (docs/protocols/dnp3-ems-dms.md): a DNP3 outstation per DSO
interface, hosted by the DNP3 gateway's loop (docs/adr/0008-dnp3-gateway.md).

A complete EMS request (``interval_id`` written last) becomes a dispatch of the interface's feeder
through ``do_request_dispatch`` (audited, source "ems") and the Celery dispatch task. When the run has
issued its set points, the DMS waits for its DERs to confirm them (apps/dms/delivery.py); DERs that
refuse, fail or stay silent are left out and the request re-optimized once without them. Then the
outstation answers with what the last run stored: achieved Q (of confirmed set points), next
interval's range, and the DMS's own view — its feeder count, the request as it took it, the Q
shortfall with its cause and the voltage violations left. A request the DMS cannot dispatch is
answered with ``dms_healthy`` off and ``fallback_active`` on, the whole request as the shortfall ("not
dispatched"), and raises a ``dispatch_refused`` alarm. In automatic mode the request's substation
voltage set point goes on to the feeder's substation RTU, when the gateway reads one (apps/dms/rtu.py).

The outstation calls back on the DNP3 stack's threads; those callbacks only queue. Everything that
touches the database runs in ``step``, on the gateway's one thread."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import time
from dataclasses import dataclass

from django.utils import timezone

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.dms.actions import DispatchError, do_expire_dispatch, do_record_delivery, do_request_dispatch
from apps.dms.delivery import Deadlines, Delivery, Round, Waiting, delivery_of, undelivered_q_kvar
from apps.dms.dso_meter import MeterAndCapability
from apps.dms.engine.dnp3.dms_outstation import DmsAnswer, DmsOutstation, EmsRequest, dispatch_outcome
from apps.dms.engine.dnp3.ems_dms_frame import interface_total, per_feeder
from apps.dms.engine.dnp3.stack import TlsFiles
from apps.dms.models import DispatchRun, Feeder
from apps.dms.rtu import RtuReader
from apps.standards.timing import INTERVAL_S

log = logging.getLogger(__name__)
SOURCE = "ems"
REFUSED = "dispatch_refused"
FALLBACK = "fallback"
FALLBACK_GRACE = 0.1  # of an interval: a request a little late is not yet a fallback
CHECK_EVERY_S = 0.5  # how often the loop looks at the runs it waits for
# Any other status has ended; a failed run is no answer of its own (the EMS hears the previous one).
UNFINISHED = (DispatchRun.Status.QUEUED, DispatchRun.Status.RUNNING)
COMMUNICATION = "communication failure"
SHORTEST_WAIT_S = 5.0  # a first round that solved late still gives its DERs this long to confirm


@dataclass(frozen=True)
class DsoConfig:
    """One DSO interface: `count` identical copies of `feeder` behind one transmission bus."""

    feeder: str
    port: int
    count: int = 1
    address: int = 10
    host: str = "127.0.0.1"
    interval_s: float = INTERVAL_S  # the cycle's: the DMS's stage budgets scale with it


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
    def __init__(self, config: DsoConfig, tls: TlsFiles | None = None, rtu: RtuReader | None = None) -> None:
        """`rtu`: the feeder's substation RTU, where the EMS's voltage set point goes (automatic mode)."""
        self.config, self.rtu = config, rtu
        self.inbox: queue.SimpleQueue[EmsRequest | str] = queue.SimpleQueue()
        # first dispatch run id → the EMS request it works on (interval, Q asked as a wire total, runs)
        self.pending: dict[int, Waiting] = {}
        self.last_request: EmsRequest | None = None  # the last one dispatched, and when it came
        self.last_request_s = 0.0
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
        self.meter = MeterAndCapability(self.outstation, config.feeder, config.count, config.interval_s)
        self.outstation.on_capability = self.meter.asks.put
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
        try:
            self.meter.step()
        except Exception:  # the link must outlive a reading or an ask the database did not take
            log.exception("substation reading or capability ask on feeder %s not handled", self.config.feeder)
        now = time.monotonic()
        if self.pending and now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self._collect()
        if self.last_request is not None and time.time() - self.last_request_s > self._silence_s():
            if self._mode() == Feeder.Mode.AUTOMATIC:
                self._fall_back()
            else:  # a feeder an operator approves or an admin disabled holds its set points
                self.last_request_s = time.time()

    def close(self) -> None:
        self.outstation.close()

    def _dispatch(self, request: EmsRequest) -> None:
        interval = int(request.interval_id or 0)
        missing = [f for f in ("q_request_kvar", "v_set_pu") if getattr(request, f) is None]
        if missing:
            self._refused(interval, f"the request lacks {' and '.join(missing)}", 0.0)
            return
        assert request.q_request_kvar is not None
        mode = self._mode()
        if mode == Feeder.Mode.DISABLED:  # an admin's choice: answered, not alarmed
            log.info("EMS request on %s not dispatched: dispatch disabled", self.config.feeder)
            self.outstation.answer(
                self._previous(interval, healthy=False, received_kvar=request.q_request_kvar)
            )
            return
        deadlines = Deadlines.from_arrival(time.time(), self._interval_of(request))
        approval = _utc(deadlines.approval_s) if mode == Feeder.Mode.MANUAL else None
        try:
            run = self._request_dispatch(
                request, DispatchRun.Trigger.EMS, "EMS request", interval or None, approval
            )
        except DispatchError as exc:
            self._refused(interval, str(exc), request.q_request_kvar)
            return
        if self.rtu is not None and mode == Feeder.Mode.AUTOMATIC:  # the EMS's control output
            assert request.v_set_pu is not None  # a request without one was refused above
            self.rtu.set_voltage(request.v_set_pu)
        self.pending[run.pk] = Waiting(interval, request.q_request_kvar, deadlines, [Round(run.pk)])
        self.last_request, self.last_request_s = request, time.time()
        do_clear_alarm(
            None, SOURCE, kind=FALLBACK, source_type="feeder", source_id=self.config.feeder,
            note=f"EMS request {interval} received",
        )  # fmt: skip

    def _mode(self) -> str:
        return str(
            Feeder.objects.filter(name=self.config.feeder).values_list("dispatch_mode", flat=True).first()
        )

    def _request_dispatch(
        self,
        request: EmsRequest,
        trigger: str,
        reason: str,
        ems_request_id: int | None = None,
        approval_deadline: dt.datetime | None = None,
    ) -> DispatchRun:
        """`request` (interface totals) dispatched on the feeder, per feeder; DispatchError if not."""
        assert request.q_request_kvar is not None and request.v_set_pu is not None
        count = self.config.count
        return do_request_dispatch(
            None,
            SOURCE,
            self.config.feeder,
            q_kvar=per_feeder(request.q_request_kvar, count),
            v_sub_pu=request.v_set_pu,
            pv_curtailment_kw=per_feeder(request.pv_curtail_kw or 0.0, count),
            dr_kw=per_feeder(request.dr_kw or 0.0, count),
            trigger=trigger,
            reason=reason,
            ems_request_id=ems_request_id,
            approval_deadline=approval_deadline,
            interval_s=self._interval_of(request),
        )

    def _interval_of(self, request: EmsRequest | None) -> float:
        """The interval the EMS said it runs (its budgets are ours), else the gateway's --interval."""
        said = request.interval_s if request is not None else None
        return float(said) if said else self.config.interval_s

    def _silence_s(self) -> float:
        """How long without an EMS request before the DMS falls back (seed 000 §4.4)."""
        return self._interval_of(self.last_request) * (1 + FALLBACK_GRACE)

    def _fall_back(self) -> None:
        """No EMS request this interval: dispatch the previous one again (with this interval's
        telemetry), once per interval, and say so; the next request ends it."""
        assert self.last_request is not None
        self.last_request_s = time.time()
        try:
            run = self._request_dispatch(
                self.last_request,
                DispatchRun.Trigger.SCHEDULED,
                "fallback: no EMS request this interval; the previous request again",
            )
        except DispatchError as exc:
            log.warning("fallback dispatch on %s not started: %s", self.config.feeder, exc)
            return
        do_raise_alarm(
            None,
            SOURCE,
            kind=FALLBACK,
            source_type="feeder",
            source_id=self.config.feeder,
            source_label=f"{self.config.feeder} (EMS link, port {self.config.port})",
            message=(
                f"No EMS request for feeder {self.config.feeder} in the last {self._silence_s():.0f} s: "
                f"the DMS dispatched the previous request again (dispatch run {run.pk})."
            ),
        )

    def _collect(self) -> None:
        now = time.time()
        for key, waiting in list(self.pending.items()):
            try:
                answered = self._advance(waiting, now)
            except Exception:  # one request the database did not take must not stop the others
                log.exception("EMS request %s on feeder %s not advanced", key, self.config.feeder)
                answered = False
            if answered:
                del self.pending[key]

    def _advance(self, waiting: Waiting, now: float) -> bool:
        """Move one request on (solved → DERs confirm → re-optimized once → answered); True once
        the EMS has its answer."""
        current = waiting.rounds[-1]
        run = DispatchRun.objects.get(pk=current.run_id)
        if run.status in UNFINISHED:
            return False
        if run.status == DispatchRun.Status.HELD:  # manual mode: an operator approves, or nothing goes
            if run.approval_deadline is not None and timezone.now() <= run.approval_deadline:
                return False
            run = do_expire_dispatch(run.pk)
        if run.status == DispatchRun.Status.EXPIRED:
            self.outstation.answer(self._previous(waiting.interval, False, waiting.received_kvar))
            return True
        if run.status == DispatchRun.Status.FAILED:
            if len(waiting.rounds) == 1:
                self._refused(waiting.interval, run.error or "the dispatch failed", waiting.received_kvar)
                return True
            first = DispatchRun.objects.get(pk=waiting.rounds[0].run_id)  # its set points stand
            self._send(first, waiting, delivery_of(first.pk))
            return True
        if current.issued_s is None:
            issued = run.approved_at or run.finished_at
            current.issued_s = issued.timestamp() if issued else now
        delivery = delivery_of(run.pk)
        if delivery.unconfirmed and now < self._deadline(waiting, current.issued_s):
            return False
        do_record_delivery(run.pk, delivery.doc(current.issued_s, now))
        if delivery.not_delivered and len(waiting.rounds) == 1 and now < waiting.deadlines.reopt_start_s:
            again = self._reoptimize(run, delivery)
            if again is not None:
                waiting.rounds.append(Round(again.pk))
                return False
        self._send(run, waiting, delivery)
        return True

    def _deadline(self, waiting: Waiting, issued_s: float) -> float:
        d = waiting.deadlines
        if len(waiting.rounds) > 1:
            return d.answer_s
        return min(max(d.messaging_s, issued_s + SHORTEST_WAIT_S), d.answer_s)

    def _reoptimize(self, run: DispatchRun, delivery: Delivery) -> DispatchRun | None:
        """The same request again without the DERs that did not confirm; None when it cannot run."""
        missing = delivery.not_delivered
        try:
            return do_request_dispatch(
                None,
                SOURCE,
                self.config.feeder,
                q_kvar=run.q_requested_kvar,
                v_sub_pu=run.v_sub_pu,
                pv_curtailment_kw=run.pv_curtailment_kw,
                dr_kw=run.dr_kw,
                trigger=DispatchRun.Trigger.EMS,
                reason=f"re-optimization without {len(missing)} DER(s) that did not confirm",
                ems_request_id=run.ems_request_id,
                reoptimizes_id=run.pk,
                left_out=list(missing),
                interval_s=run.interval_s,
            )
        except DispatchError as exc:
            log.warning("re-optimization of dispatch run %s not started: %s", run.pk, exc)
            return None

    def _send(self, run: DispatchRun, waiting: Waiting, delivery: Delivery) -> None:
        self.outstation.answer(
            self._answer(run, waiting.interval, waiting.received_kvar, not_delivered=delivery.not_delivered)
        )
        do_clear_alarm(
            None, SOURCE, kind=REFUSED, source_type="feeder", source_id=self.config.feeder,
            note=f"dispatch run {run.pk} done",
        )  # fmt: skip

    def _answer(
        self,
        run: DispatchRun,
        interval: int,
        received_kvar: float,
        healthy: bool = True,
        not_delivered: tuple[str, ...] = (),
    ) -> DmsAnswer:
        """What a finished run achieved and offers next, as wire totals; with no flexibility known
        both limits equal the achieved Q (no room is claimed). Set points still not delivered count
        for nothing: the shortfall they leave is a communication failure. A refused or failed
        request (not healthy) answers with this earlier run, and the whole request is short: "not
        dispatched"."""
        n = self.config.count
        missing_kvar = undelivered_q_kvar(run.result, not_delivered)
        achieved = float(run.q_achieved_kvar or 0.0) + missing_kvar
        flex = run.result.get("flexibility") or {}
        low = flex.get("q_min_kvar")
        high = flex.get("q_max_kvar")
        outcome = dispatch_outcome(run.result)
        short, cause = interface_total(outcome.q_shortfall_kvar, n), outcome.cause
        if missing_kvar:
            short, cause = interface_total(abs(run.q_requested_kvar - achieved), n), COMMUNICATION
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


def _utc(t_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_s, dt.UTC)
