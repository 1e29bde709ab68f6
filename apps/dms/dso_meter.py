"""What the DMS's outstation tells the EMS besides its answers (issue #12 items 3–4): the substation
meter's newest fresh reading — the DSO's operating point, which the EMS reads at collect — and the
range the DMS computes when the EMS asks for its capability before dispatching. Runs in the gateway's
loop (apps/dms/dso_server.py); the computation itself runs on a worker."""

from __future__ import annotations

import logging
import queue
import time

from apps.dms.capability_reports import do_request_capability_report
from apps.dms.engine.dnp3.dms_outstation import DmsOutstation
from apps.dms.engine.dnp3.ems_dms_frame import interface_total
from apps.dms.head import fresh_head
from apps.dms.models import CapabilityReport

log = logging.getLogger(__name__)
METER_EVERY_S = 1.0  # how often the loop looks for a newer substation reading


class MeterAndCapability:
    def __init__(self, outstation: DmsOutstation, feeder: str, count: int, interval_s: float) -> None:
        self.outstation, self.feeder, self.count, self.interval_s = outstation, feeder, count, interval_s
        self.asks: queue.SimpleQueue[int] = queue.SimpleQueue()  # filled on the DNP3 stack's thread
        self.waiting: dict[int, int] = {}  # interval id → report id
        self._published: int | None = -1  # the reading on the wire (None: "no fresh reading")
        self._metered_at = 0.0

    def step(self) -> None:
        now = time.monotonic()
        if now - self._metered_at >= METER_EVERY_S:
            self._metered_at = now
            self._publish_reading()
        while True:
            try:
                interval = self.asks.get_nowait()
            except queue.Empty:
                break
            report = do_request_capability_report(None, "ems", self.feeder, interval, self.interval_s)
            self.waiting[interval] = report.pk
        for interval, report_id in list(self.waiting.items()):
            report = CapabilityReport.objects.get(pk=report_id)
            if report.status == CapabilityReport.Status.QUEUED:
                continue
            del self.waiting[interval]
            if report.q_min_kvar is None or report.q_max_kvar is None:
                log.warning("no capability for the EMS on %s: %s", self.feeder, report.error)
                continue
            low, high = (interface_total(q, self.count) for q in (report.q_min_kvar, report.q_max_kvar))
            self.outstation.capability(low, high, interval)

    def _publish_reading(self) -> None:
        fresh = fresh_head(self.feeder, self.interval_s)
        key = fresh.pk if fresh else None
        if key == self._published:
            return
        self._published = key
        if fresh is None:
            self.outstation.measured(0.0, 0.0, 0.0, 0.0)
            return
        r = fresh.reading
        n = self.count
        self.outstation.measured(
            interface_total(r.p_kw, n), interface_total(r.q_kvar, n), r.v_pu, fresh.measured_at.timestamp()
        )
