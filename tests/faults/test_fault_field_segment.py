"""One field segment's DER outstations stop answering just before an EMS request (issue #12, fault
acceptance): the DMS's set points to them fail over DNP3, the DMS re-optimizes the request without
them (a second dispatch run, linked to the first), the rest of the DERs are dispatched, and the
answer the EMS hears puts the shortfall down to a communication failure."""

from __future__ import annotations

import io
import json
import subprocess
from typing import Any

import pytest
from django.core.management import call_command

from apps.der_registry.models import SetPoint
from apps.dms.models import DispatchRun, Feeder
from apps.ems.models import DsoMessage
from crest_web.accounts.models import AuditRecord
from tests.integration.dnp3_support import until
from tests.integration.dso_support import (
    SEGMENT,
    Field,
    opf_run,
    present,
    runs_at,
)

pytestmark = pytest.mark.django_db(transaction=True)
DOWN = SEGMENT  # of the feeder's 10 DER outstations


def send(message: DsoMessage) -> dict[str, Any]:
    out = io.StringIO()
    args = ["--run", str(message.run_id), "--answer-timeout", "60", "--json"]
    call_command("run_ems_link", *args, stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_it_drops_the_ders_of_a_silent_segment_and_dispatches_the_rest(
    worker: Any,
    gateways: tuple[subprocess.Popen[str], ...],
    field_sim: Field,
) -> None:
    base = present(Feeder.objects.get(name="feedera"))
    bare = present(Feeder.objects.get(name="bare"))
    ordinary = opf_run(base, bare).messages.get(bus=5)
    send(ordinary)  # all DERs answer: the DMS reports the range they give next
    ordinary.refresh_from_db()
    assert ordinary.q_min_next_kvar is not None
    # Ask for 90 % of the most the feeder's DERs can absorb: more than the DERs outside the segment
    # can give, so losing the segment leaves a shortfall only the silent DERs could have covered.
    message = opf_run(base, bare).messages.get(bus=5)
    DsoMessage.objects.filter(pk=message.pk).update(q_request_kvar=0.9 * ordinary.q_min_next_kvar)
    stopped = field_sim.segment_ports
    field_sim.segment.kill()  # the segment goes silent at once
    field_sim.segment.wait()

    doc = send(message)

    assert {d["bus"]: d["error"] for d in doc["dsos"]} == {5: "", 7: ""}
    first = DispatchRun.objects.get(ems_request_id=message.pk, reoptimizes__isnull=True)
    again = DispatchRun.objects.get(feeder__name="feedera", reoptimizes=first)
    silent = sorted(
        SetPoint.objects.filter(dispatch_run=first, der__dnp3_port__in=stopped).values_list(
            "der__name", flat=True
        )
    )
    assert len(silent) == DOWN
    delivery = first.result["delivery"]
    assert sorted(delivery["failed"] + delivery["unconfirmed"]) == silent
    assert delivery["confirmed"] == 10 - DOWN
    assert again.left_out == silent and again.ems_request_id == message.pk and again.status == "done"
    # The re-optimization sends set points to the DERs that answer and none to the silent ones.
    resent = SetPoint.objects.filter(dispatch_run=again)
    assert resent.count() == 10 - DOWN and not resent.filter(der__name__in=silent).exists()
    assert all(sp.status == "acknowledged" for sp in resent)
    assert again.result["delivery"]["confirmed"] == 10 - DOWN
    assert until(lambda: runs_at({sp.der.dnp3_port: sp.q_kvar for sp in resent.select_related("der")}))

    message.refresh_from_db()
    assert message.dms_healthy is True and message.answered_at is not None
    assert message.dms_shortfall_cause == "communication failure"
    assert message.dms_q_shortfall_kvar is not None and message.dms_q_shortfall_kvar > 0
    assert AuditRecord.objects.filter(action="dispatch.delivery").count() == 3  # one per run
