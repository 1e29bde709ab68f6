"""The DMS as the EMS's outstation (DSO interface over DNP3, map `EMS_DMS`): the EMS writes its
request as analog outputs; the DMS answers with achieved Q and next interval's limits, and its own
view of the exchange: its feeder count, the request as it took it, what it fell short of and why,
and the voltage violations left (`dispatch_outcome` reads them from a dispatch's stored result)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.dms.engine.dnp3.ems_dms_frame import per_feeder
from apps.dms.engine.dnp3.outstation import Outstation, OutstationChannel
from apps.dms.engine.dnp3.points import (
    EMS_DMS,
    CommandRefused,
    Point,
    check_output,
    shortfall_cause_code,
    shortfall_cause_name,
)
from apps.dms.engine.dnp3.stack import TlsFiles

REQUEST_FIELDS = ("q_request_kvar", "v_set_pu", "pv_curtail_kw", "dr_kw", "interval_s", "interval_id")


@dataclass
class EmsRequest:
    """What the EMS asked for; `interval_id` written last marks the request complete."""

    q_request_kvar: float | None = None
    v_set_pu: float | None = None
    pv_curtail_kw: float | None = None
    dr_kw: float | None = None
    interval_s: float | None = None  # the cycle's interval as the EMS runs it (0 or None: not said)
    interval_id: int | None = None
    received: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class DmsAnswer:
    """Wire frame: Q drawn from the transmission system, totals over the interface."""

    q_achieved_kvar: float
    q_min_kvar: float
    q_max_kvar: float
    interval_id: int
    healthy: bool = True  # the DMS runs and dispatched the request
    fallback_active: bool = False
    q_received_kvar: float = 0.0  # the request as the DMS took it
    q_shortfall_kvar: float = 0.0  # ≥ 0
    shortfall_cause: str = ""  # a SHORTFALL_CAUSES name; "" when nothing fell short
    violations_left: int = 0


@dataclass(frozen=True)
class DispatchOutcome:
    """What a dispatch did not achieve, per modelled feeder."""

    q_shortfall_kvar: float  # |requested − achieved| of the Q shortfall, 0 when Q was met
    cause: str  # of the Q shortfall, else of any other; "voltage limit" for violations alone
    violations_left: int  # node-phases outside the voltage limits after the dispatch


def dispatch_outcome(result: Mapping[str, Any]) -> DispatchOutcome:
    """Read from a dispatch run's stored result. ``violations_after`` is a list of violations or their
    count; shortfalls are ``{"quantity", "requested", "achieved", "cause"}``."""
    after = result.get("violations_after") or 0
    left = len(after) if isinstance(after, list | tuple) else int(after)
    shortfalls = [s for s in result.get("shortfalls") or [] if isinstance(s, Mapping)]
    q = [s for s in shortfalls if s.get("quantity") == "q"]
    short = sum(abs(float(s.get("requested") or 0.0) - float(s.get("achieved") or 0.0)) for s in q)
    # in the wire's words: "voltage_limit" and "Voltage limit" are "voltage limit"
    causes = [
        shortfall_cause_name(shortfall_cause_code(str(s.get("cause") or "other"))) for s in q + shortfalls
    ]
    cause = causes[0] if causes else ("voltage limit" if left else "")
    return DispatchOutcome(short, cause, left)


class DmsOutstation:
    def __init__(
        self,
        port: int,
        address: int = 10,
        host: str = "127.0.0.1",
        tls: TlsFiles | None = None,
        on_request: Callable[[EmsRequest], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
        feeder_count: int = 1,
        on_capability: Callable[[int], None] | None = None,
    ) -> None:
        self.feeder_count = feeder_count  # published from the start: the EMS checks it on receipt
        self.channel = OutstationChannel(port, host, tls)
        self.request = EmsRequest()
        self.completed: list[EmsRequest] = []
        self.on_request = on_request
        self.on_refused = on_refused  # called (on the stack's thread) with the reason of a refusal
        self.on_capability = on_capability  # called with the interval the EMS asks a range for
        self._lock = threading.Lock()
        self.station: Outstation = self.channel.add(address, EMS_DMS, self._command, on_select=self._check)
        self.station.update({"feeder_count": feeder_count})

    def _check(self, point: Point, value: float) -> float:
        """The value as the DMS would take it, else CommandRefused (also told to `on_refused`): the
        check of a SELECT and the first step of an OPERATE."""
        try:
            return check_output(point, value)
        except CommandRefused as exc:
            if self.on_refused is not None:
                self.on_refused(str(exc))
            raise

    def _command(self, point: Point, value: float) -> float:
        accepted = self._check(point, value)
        if point.name == "capability_request":  # an ask of its own, not part of a request
            if self.on_capability is not None:
                self.on_capability(int(accepted))
            return accepted
        with self._lock:
            if point.name == "interval_id":
                self.request.interval_id = int(accepted)
                self.request.received.add(point.name)
                done, self.request = self.request, EmsRequest()
                self.completed.append(done)
            else:
                setattr(self.request, point.name, accepted)
                self.request.received.add(point.name)
                return accepted
        if self.on_request is not None:
            self.on_request(done)
        return accepted

    def latest(self) -> EmsRequest | None:
        with self._lock:
            return self.completed[-1] if self.completed else None

    def answer(self, a: DmsAnswer) -> None:
        self.station.update(
            {
                "q_achieved_kvar": a.q_achieved_kvar,
                "q_min_kvar": a.q_min_kvar,
                "q_max_kvar": a.q_max_kvar,
                "interval_id": a.interval_id,
                "feeder_count": self.feeder_count,
                "q_received_kvar": a.q_received_kvar,
                "q_received_per_feeder_kvar": per_feeder(a.q_received_kvar, self.feeder_count),
                "q_shortfall_kvar": a.q_shortfall_kvar,
                "shortfall_cause": shortfall_cause_code(a.shortfall_cause) if a.shortfall_cause else 0,
                "violations_left": a.violations_left,
                "dms_healthy": a.healthy,
                "fallback_active": a.fallback_active,
            }
        )

    def measured(self, p_kw: float, q_kvar: float, v_pu: float, at_s: float) -> None:
        """Publish the substation meter's reading (wire frame: totals drawn); `at_s` 0 for none."""
        self.station.update(
            {"p_measured_kw": p_kw, "q_measured_kvar": q_kvar, "v_measured_pu": v_pu, "measured_at_s": at_s}
        )

    def capability(self, q_min_kvar: float, q_max_kvar: float, interval_id: int) -> None:
        """Publish the range computed on the EMS's ask for `interval_id` (wire frame)."""
        self.station.update(
            {"q_min_kvar": q_min_kvar, "q_max_kvar": q_max_kvar, "capability_interval_id": interval_id}
        )

    def close(self) -> None:
        self.channel.close()
