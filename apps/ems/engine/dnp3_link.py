"""The EMS as DNP3 master to each DMS outstation (the DSO interface; never DER objects).

A request is six direct operates (Q, V set point, PV curtailment, DR, the interval's length, then
the interval id that closes it); it counts as delivered only when every operate is confirmed. The
DMS's achieved Q, next interval's q_min / q_max, its own view of the exchange (feeder count, request
as taken, shortfall and cause, violations left) and its substation meter arrive by event polls after
a start-up integrity poll; a capability ask is one operate of its own."""

from __future__ import annotations

import threading
import time
from concurrent.futures import wait
from dataclasses import dataclass

from apps.dms.engine.dnp3.master import CommandOutcome, Endpoint, MasterOptions, MasterPool
from apps.dms.engine.dnp3.points import EMS_DMS, shortfall_cause_name
from apps.dms.engine.dnp3.stack import TlsFiles


@dataclass(frozen=True)
class DsoRequest:
    interval_id: int
    q_request_kvar: float
    v_set_pu: float = 1.0
    pv_curtail_kw: float = 0.0
    dr_kw: float = 0.0
    interval_s: float = 0.0  # the cycle's interval, so the DMS's budgets match the EMS's; 0: not given


@dataclass(frozen=True)
class DsoStatus:
    q_achieved_kvar: float | None
    q_min_kvar: float | None
    q_max_kvar: float | None
    interval_id: int | None
    healthy: bool
    fallback_active: bool
    link_up: bool
    updated_s: float | None
    # The DMS's view, wire frame (totals drawn); None before the DMS published it.
    feeder_count: int | None = None
    q_received_kvar: float | None = None
    q_received_per_feeder_kvar: float | None = None
    q_shortfall_kvar: float | None = None
    shortfall_cause: str = ""
    violations_left: int | None = None
    # The substation meter as the DMS published it (wire frame; None: no fresh reading), and the
    # interval of a range it computed because the EMS asked (points 1–2 hold it then).
    p_measured_kw: float | None = None
    q_measured_kvar: float | None = None
    v_measured_pu: float | None = None
    measured_at_s: float | None = None
    capability_interval_id: int | None = None


SILENT = "no confirmation within the time allowed"


class EmsDnp3Master:
    def __init__(self, options: MasterOptions | None = None) -> None:
        self.pool = MasterPool(options)
        self._values: dict[str, dict[str, float]] = {}
        self._updated: dict[str, float] = {}
        self._up: dict[str, bool] = {}
        self._lock = threading.Lock()

    def add_dso(
        self, name: str, host: str, port: int, address: int = 10, tls: TlsFiles | None = None
    ) -> None:
        self.pool.add(name, Endpoint(host, port, address, tls=tls), EMS_DMS)

    def pump(self, timeout_s: float = 0.1) -> None:
        """Fold link events into the latest status of each DSO."""
        for event in self.pool.drain(timeout_s):
            with self._lock:
                if event.kind == "values":
                    self._values.setdefault(event.key, {}).update(event.values)
                    self._updated[event.key] = event.t_s
                    self._up[event.key] = True
                elif event.kind in ("link_up", "answered"):
                    self._up[event.key] = True
                elif event.kind in ("link_down", "no_answer"):
                    self._up[event.key] = False

    def send(self, name: str, request: DsoRequest, timeout_s: float = 15.0) -> CommandOutcome:
        link = self.pool.links[name]
        outcomes = []
        for field_name in (
            "q_request_kvar",
            "v_set_pu",
            "pv_curtail_kw",
            "dr_kw",
            "interval_s",
            "interval_id",
        ):
            future = link.operate(field_name, float(getattr(request, field_name)))
            done, _ = wait([future], timeout=timeout_s)
            outcome = future.result() if done else CommandOutcome(False, SILENT, answered=False)
            outcomes.append(outcome)
            if not outcome.ok:
                return CommandOutcome(False, f"{field_name}: {outcome.reason}", outcome.answered)
        return CommandOutcome(True)

    def ask_capability(self, name: str, interval_id: int, timeout_s: float = 15.0) -> CommandOutcome:
        """Ask the DMS for its range for `interval_id` (it publishes it with that id when done)."""
        future = self.pool.links[name].operate("capability_request", float(interval_id))
        done, _ = wait([future], timeout=timeout_s)
        return future.result() if done else CommandOutcome(False, SILENT, answered=False)

    def poll(self, name: str) -> None:
        self.pool.links[name].integrity_poll()

    def status(self, name: str) -> DsoStatus:
        with self._lock:
            v = dict(self._values.get(name, {}))
            iid, count, left = v.get("interval_id"), v.get("feeder_count"), v.get("violations_left")
            measured_at, asked = v.get("measured_at_s"), v.get("capability_interval_id")
            metered = bool(measured_at)  # 0: the DMS has no fresh reading
            return DsoStatus(
                q_achieved_kvar=v.get("q_achieved_kvar"),
                q_min_kvar=v.get("q_min_kvar"),
                q_max_kvar=v.get("q_max_kvar"),
                interval_id=int(iid) if iid is not None else None,
                healthy=bool(v.get("dms_healthy", 0.0)),
                fallback_active=bool(v.get("fallback_active", 0.0)),
                link_up=self._up.get(name, False),
                updated_s=self._updated.get(name),
                feeder_count=int(count) if count else None,  # 0: an outstation that never set it
                q_received_kvar=v.get("q_received_kvar"),
                q_received_per_feeder_kvar=v.get("q_received_per_feeder_kvar"),
                q_shortfall_kvar=v.get("q_shortfall_kvar"),
                shortfall_cause=shortfall_cause_name(v.get("shortfall_cause", 0.0)),
                violations_left=int(left) if left is not None else None,
                p_measured_kw=v.get("p_measured_kw") if metered else None,
                q_measured_kvar=v.get("q_measured_kvar") if metered else None,
                v_measured_pu=v.get("v_measured_pu") if metered else None,
                measured_at_s=measured_at if metered else None,
                capability_interval_id=int(asked) if asked else None,
            )

    def wait_for(self, name: str, interval_id: int, timeout_s: float = 10.0) -> DsoStatus:
        """Pump events until the DSO's answer for `interval_id` arrived (or the time is up)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.pump(0.1)
            status = self.status(name)
            if status.interval_id == interval_id:
                return status
        return self.status(name)

    def close(self) -> None:
        self.pool.close()
