"""The EMS → DMS → EMS loop over real DNP3 on loopback (DESIGN.md §2): an OPF run's DSO message is sent
by `run_ems_link`, the DMS gateway (`run_dnp3_gateway --ems-port`) dispatches it on a real Celery
worker, sends the set points to the feeder's DERs (simulated DNP3 inverter outstations) and waits for
their confirmations, and the EMS records the achieved Q and next interval's capability the dispatch
stored, in the message's own frame. A request the DMS cannot dispatch (a feeder without DERs, an
absurd value) is reported back and raises an alarm; the gateway stays up."""

from __future__ import annotations

import io
import json
import subprocess
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.alarms.models import Alarm
from apps.der_registry.models import SetPoint
from apps.dms.engine.dnp3.dms_outstation import dispatch_outcome
from apps.dms.engine.dnp3.ems_dms_frame import ems_q_injected_kvar, ems_q_range_kvar
from apps.dms.models import DispatchRun, Feeder
from apps.ems.actions import LinkError, do_run_opf, do_save_dso_endpoint
from apps.ems.engine.dso import DsoInterface
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from crest_web.accounts.models import AuditRecord
from tests.integration.dnp3_support import until
from tests.integration.dso_support import COUNT, Field, feeder, opf_run, present, runs_at

pytestmark = pytest.mark.django_db(transaction=True)
WIRE_KVAR = 0.1  # analog inputs carry 0.1 kvar steps (scale 10) of the interface's total


def send(run: OpfRun) -> dict[str, Any]:
    out = io.StringIO()
    call_command("run_ems_link", "--run", str(run.pk), "--answer-timeout", "120", "--json", stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_it_closes_the_loop_and_reports_refusals(
    worker: Any, gateways: tuple[subprocess.Popen[str], subprocess.Popen[str]], field_sim: Field
) -> None:
    base_a = present(Feeder.objects.get(name="feedera"))
    run = opf_run(base_a, present(Feeder.objects.get(name="bare")))
    a, bare = run.messages.get(bus=5), run.messages.get(bus=7)
    assert a.q_base_kvar == pytest.approx(base_a[1], abs=1e-3)

    doc = send(run)

    assert {d["bus"]: d["error"] for d in doc["dsos"]} == {5: "", 7: ""}
    dispatched = DispatchRun.objects.get(feeder__name="feedera")
    assert dispatched.status == "done", dispatched.error
    assert dispatched.trigger == "ems" and "EMS request" in dispatched.reason
    # per feeder, drawn from transmission: the base demand less the injection the EMS asked for
    assert dispatched.q_requested_kvar == pytest.approx(base_a[1] - a.q_request_kvar, abs=1e-6)
    assert dispatched.v_sub_pu == pytest.approx(a.v_pu, abs=1e-9)
    assert AuditRecord.objects.filter(action="dispatch.request", source="ems").count() == 1
    a.refresh_from_db()
    assert a.sent_at is not None and a.answered_at is not None and a.send_error == ""
    assert a.dms_healthy is True and a.fallback_active is False
    assert dispatched.q_achieved_kvar is not None
    # The DMS answered once its DERs had confirmed: each inverter runs at its set point.
    issued = {
        sp.der.dnp3_port: sp for sp in SetPoint.objects.filter(dispatch_run=dispatched).select_related("der")
    }
    assert len(issued) == 10 and all(sp.status == "acknowledged" for sp in issued.values())
    assert (
        dispatched.result["delivery"]["confirmed"] == 10 and not dispatched.result["delivery"]["unconfirmed"]
    )
    assert until(lambda: runs_at({port: sp.q_kvar for port, sp in issued.items()}))
    achieved = ems_q_injected_kvar(COUNT * dispatched.q_achieved_kvar, base_a[1], COUNT)
    assert a.q_achieved_kvar == pytest.approx(achieved, abs=WIRE_KVAR)
    flex = dispatched.result["flexibility"]
    low, high = ems_q_range_kvar(COUNT * flex["q_min_kvar"], COUNT * flex["q_max_kvar"], base_a[1], COUNT)
    assert (a.q_min_next_kvar, a.q_max_next_kvar) == (
        pytest.approx(low, abs=WIRE_KVAR),
        pytest.approx(high, abs=WIRE_KVAR),
    )
    assert a.q_min_next_kvar is not None and a.q_max_next_kvar is not None
    assert a.q_min_next_kvar < a.q_max_next_kvar
    assert AuditRecord.objects.filter(action="ems.dso_exchange", object_id=str(a.pk)).exists()
    # the DMS's own view: its count, the request as it took it, what its dispatch left undone
    outcome = dispatch_outcome(dispatched.result)
    assert a.dms_feeder_count == COUNT and not Alarm.objects.filter(kind="dso_mismatch").exists()
    assert a.dms_q_received_kvar == pytest.approx(COUNT * dispatched.q_requested_kvar, abs=WIRE_KVAR)
    assert a.dms_q_received_per_feeder_kvar == pytest.approx(dispatched.q_requested_kvar, abs=WIRE_KVAR)
    assert a.dms_q_achieved_kvar == pytest.approx(COUNT * dispatched.q_achieved_kvar, abs=WIRE_KVAR)
    assert a.dms_q_shortfall_kvar == pytest.approx(COUNT * outcome.q_shortfall_kvar, abs=WIRE_KVAR)
    assert (a.dms_shortfall_cause, a.dms_violations_left) == (outcome.cause, outcome.violations_left)

    # A feeder without DERs: no dispatch, the EMS hears "unhealthy, fallback", the operator an alarm.
    bare.refresh_from_db()
    assert bare.answered_at is not None and bare.dms_healthy is False and bare.fallback_active is True
    assert not DispatchRun.objects.filter(feeder__name="bare").exists()
    alarm = Alarm.objects.get(kind="dispatch_refused", source_id="bare", cleared_at__isnull=True)
    assert "no active DERs" in alarm.message

    # An absurd request: the DMS's outstation refuses it, nothing is dispatched, the gateway stays up.
    DsoMessage.objects.filter(pk=a.pk).update(q_request_kvar=9e5, sent_at=None, answered_at=None)
    second = send(run)  # bus 7 answered already: only bus 5 goes out
    assert [d["bus"] for d in second["dsos"]] == [5] and "out of range" in second["dsos"][0]["error"]
    assert DispatchRun.objects.filter(feeder__name="feedera").count() == 1
    assert until(lambda: Alarm.objects.filter(kind="dispatch_refused", source_id="feedera").exists())
    refused = Alarm.objects.get(kind="dispatch_refused", source_id="feedera")
    assert "q_request_kvar" in refused.message and "outside" in refused.message
    assert all(proc.poll() is None for proc in gateways)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ems-port", "20999"], "needs both --ems-port and --dso-feeder"),
        (["--ems-port", "70000", "--dso-feeder", "feedera"], "is not a TCP port"),
        (["--ems-port", "20999", "--dso-feeder", "ghost"], "no feeder named 'ghost'"),
        (["--ems-port", "20999", "--dso-feeder", "feedera:0"], "at least 1"),
        (["--ems-port", "20999", "--dso-feeder", "feedera:two"], "whole number"),
    ],
)
def test_it_the_gateway_refuses_a_bad_ems_link_setting_in_words(args: list[str], words: str) -> None:
    feeder("feedera", pv=0)
    with pytest.raises(CommandError, match=words):
        call_command("run_dnp3_gateway", *args, stdout=io.StringIO())


def test_it_the_ems_link_refuses_bad_input_and_stores_nothing() -> None:
    with pytest.raises(CommandError, match="no OPF run 999"):
        call_command("run_ems_link", "--run", "999", stdout=io.StringIO())
    run = do_run_opf(None, "test", "case9", [DsoInterface(9, 1, -100.0, 100.0)])
    with pytest.raises(CommandError, match=r"No DSO of OPF run \d+ has an endpoint \(buses 9\)"):
        call_command("run_ems_link", "--run", str(run.pk), stdout=io.StringIO())
    assert not DsoMessage.objects.filter(sent_at__isnull=False).exists()
    bad_fields: list[tuple[dict[str, Any], str]] = [
        ({"port": 0}, "not a TCP port"),
        ({"host": "no host"}, "not a host name"),
        ({"bus": 0}, "start at 1"),
        ({"name": " "}, "needs a name"),
    ]
    for bad, words in bad_fields:
        fields: dict[str, Any] = {"bus": 9, "name": "dso-9", "host": "127.0.0.1", "port": 20500, **bad}
        with pytest.raises(LinkError, match=words):
            do_save_dso_endpoint(None, "test", **fields)
    assert not DsoEndpoint.objects.exists()
    do_save_dso_endpoint(None, "test", bus=9, name="dso-9", host="127.0.0.1", port=20500)
    with pytest.raises(LinkError, match="already used by the DSO at bus 9"):
        do_save_dso_endpoint(None, "test", bus=5, name="dso-9", host="127.0.0.1", port=20501)
    assert AuditRecord.objects.filter(action="ems.dso_endpoint").count() == 1
