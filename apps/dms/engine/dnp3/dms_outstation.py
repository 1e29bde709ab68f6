"""The DMS as the EMS's outstation (DSO interface over DNP3, map `EMS_DMS`): the EMS writes its
request as analog outputs; the DMS answers with achieved Q and next interval's limits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from apps.dms.engine.dnp3.outstation import Outstation, OutstationChannel
from apps.dms.engine.dnp3.points import EMS_DMS, CommandRefused, Point, check_output
from apps.dms.engine.dnp3.stack import TlsFiles

REQUEST_FIELDS = ("q_request_kvar", "v_set_pu", "pv_curtail_kw", "dr_kw", "interval_id")


@dataclass
class EmsRequest:
    """What the EMS asked for; `interval_id` written last marks the request complete."""

    q_request_kvar: float | None = None
    v_set_pu: float | None = None
    pv_curtail_kw: float | None = None
    dr_kw: float | None = None
    interval_id: int | None = None
    received: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class DmsAnswer:
    q_achieved_kvar: float
    q_min_kvar: float
    q_max_kvar: float
    interval_id: int
    healthy: bool = True
    fallback_active: bool = False


class DmsOutstation:
    def __init__(
        self,
        port: int,
        address: int = 10,
        host: str = "127.0.0.1",
        tls: TlsFiles | None = None,
        on_request: Callable[[EmsRequest], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.channel = OutstationChannel(port, host, tls)
        self.request = EmsRequest()
        self.completed: list[EmsRequest] = []
        self.on_request = on_request
        self.on_refused = on_refused  # called (on the stack's thread) with the reason of a refusal
        self._lock = threading.Lock()
        self.station: Outstation = self.channel.add(address, EMS_DMS, self._command)

    def _command(self, point: Point, value: float) -> float:
        try:
            accepted = check_output(point, value)
        except CommandRefused as exc:
            if self.on_refused is not None:
                self.on_refused(str(exc))
            raise
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
                "dms_healthy": a.healthy,
                "fallback_active": a.fallback_active,
            }
        )

    def close(self) -> None:
        self.channel.close()
