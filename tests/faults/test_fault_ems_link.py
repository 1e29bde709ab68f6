"""The EMS–DMS link blocked for a cycle and then restored (issue #12, fault acceptance; seed 000
§4.2, §4.4), with the real DMS gateway, its DER outstations and a worker. While the EMS cannot reach
the DMS: the EMS raises "EMS–DMS link down"; the DMS, hearing no request for an interval, dispatches
the previous request again and raises its own "Fallback active"; once the DSO's range is older than
the previous interval and the DMS cannot be asked for a new one, the OPF solves with the range the DSO
gave before and says so ("Fallback active" for the DSO on the EMS side, the cycle marked). Once the
link is back, collect asks the DMS for its capability and every one of those alarms clears by
itself."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from django.core.management import call_command

from apps.alarms.models import Alarm
from apps.cycle.engine.schedule import seconds_to_next
from apps.cycle.models import Cycle
from apps.dms.models import DispatchRun
from apps.ems.models import DsoEndpoint
from tests.integration.dnp3_support import ports, until
from tests.integration.dso_support import GATEWAY_INTERVAL_S, register_base

pytestmark = pytest.mark.django_db(transaction=True)
INTERVAL_S = GATEWAY_INTERVAL_S  # the EMS's cycle and the DMS's own idea of it agree


def run_cycle() -> dict[str, Any]:
    out = io.StringIO()
    call_command("run_cycle", "--interval", str(INTERVAL_S), "--json", stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def next_cycle() -> dict[str, Any]:
    time.sleep(seconds_to_next(time.time(), INTERVAL_S) + 0.2)
    return run_cycle()


def active(kind: str, source_id: str) -> bool:
    return Alarm.objects.filter(kind=kind, source_id=source_id, cleared_at__isnull=True).exists()


@pytest.mark.usefixtures("worker", "gateways")
def test_it_falls_back_on_both_sides_and_recovers_by_itself() -> None:
    register_base()
    port = DsoEndpoint.objects.get(bus=5).port
    if seconds_to_next(time.time(), INTERVAL_S) < 20:
        time.sleep(seconds_to_next(time.time(), INTERVAL_S) + 0.2)
    run_cycle()  # A: the DSO answers and reports its range
    assert not active("ems_link_down", "5")

    DsoEndpoint.objects.filter(bus=5).update(port=ports(1))  # B: nothing listens there
    blocked = next_cycle()
    request = next(s for s in blocked["stages"] if s["stage"] == "ems_request")
    assert "no connection" in request["detail"]
    assert active("ems_link_down", "5")
    link = Alarm.objects.get(kind="ems_link_down", source_id="5", cleared_at__isnull=True)
    assert "dso-a" in link.message and "last reported range" in link.message
    # The DMS heard nothing this interval: it dispatches the previous request again, and says so.
    assert until(lambda: active("fallback", "feedera"), limit_s=INTERVAL_S)
    again = DispatchRun.objects.filter(trigger="scheduled", reason__startswith="fallback").first()
    assert again is not None and again.ems_request_id is None
    assert until(lambda: DispatchRun.objects.get(pk=again.pk).status == "done")

    still = next_cycle()  # C: still blocked; the range of A is now older than the previous interval
    collect = next(s for s in still["stages"] if s["stage"] == "collect")
    assert "dso-a: no connection" in collect["detail"]
    cycle = Cycle.objects.get(pk=still["id"])
    assert cycle.ems_fallback and cycle.status == "done"
    ems_side = Alarm.objects.get(kind="fallback", source_id="5:ems", cleared_at__isnull=True)
    assert "dso-a" in ems_side.message and "gave no range in the previous interval" in ems_side.message
    assert active("ems_link_down", "5") and active("fallback", "feedera")

    DsoEndpoint.objects.filter(bus=5).update(port=port)  # D: the link is back
    restored = next_cycle()
    collect = next(s for s in restored["stages"] if s["stage"] == "collect")
    assert "capability asked first from dso-a" in collect["detail"]
    cycle = Cycle.objects.get(pk=restored["id"])
    assert not cycle.ems_fallback and cycle.status == "done"
    assert not active("fallback", "5:ems") and not active("fallback", "7:ems")
    assert not active("ems_link_down", "5") and not active("fallback", "feedera")
