"""The EMS → DMS → EMS loop over real DNP3 on loopback (DESIGN.md §2): an OPF run's DSO message is sent
by `run_ems_link`, the DMS gateway (`run_dnp3_gateway --ems-port`) dispatches it on a real Celery
worker, and the EMS records the achieved Q and next interval's capability the dispatch stored, in the
message's own frame. A request the DMS cannot dispatch (a feeder without DERs, an absurd value) is
reported back and raises an alarm; the gateway stays up."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.alarms.models import Alarm
from apps.der_registry import actions as registry
from apps.der_registry.models import DER
from apps.dms.actions import do_add_feeder_version
from apps.dms.engine import opendss_pf
from apps.dms.engine.dnp3.dms_outstation import dispatch_outcome
from apps.dms.engine.dnp3.ems_dms_frame import ems_q_injected_kvar, ems_q_range_kvar
from apps.dms.engine.network import DerInjection, Network, OperatingState
from apps.dms.models import DispatchRun, Feeder
from apps.ems.actions import LinkError, do_run_opf, do_save_dso_endpoint
from apps.ems.engine.dso import DsoInterface
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from crest_web.accounts.models import AuditRecord
from crest_web.env import database_url_with_name
from tests.conftest import ROOT
from tests.integration.dnp3_support import ports, until

pytestmark = pytest.mark.django_db(transaction=True)
SHARE = 0.6  # PV output now, of the rating
COUNT = 2  # identical feeders behind the interface at bus 5
WIRE_KVAR = 0.1  # analog inputs carry 0.1 kvar steps (scale 10) of the interface's total


def feeder(name: str, pv: int) -> Feeder:
    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    net = dataclasses.replace(Network.from_dict(json.loads(text)), name=name)
    made = do_add_feeder_version(None, "system", net, source_name="ieee13.json", source_text=text).feeder
    if pv:
        call_command("add_pv", name, "--count", str(pv), "--seed", "3", stdout=io.StringIO())
    for der in DER.objects.filter(feeder=made):
        registry.do_record_monitoring(
            None, "test", der.pk, {"p_kw": SHARE * der.np_active_power_kw, "q_kvar": 0.0}
        )
    return made


def present(made: Feeder) -> tuple[float, float]:
    """Substation P and Q drawn at the DERs' present output: the EMS's base demand per feeder."""
    version = made.current_version()
    assert version is not None
    ders = {
        d.name: DerInjection(d.bus, tuple(d.phases), SHARE * d.np_active_power_kw)
        for d in DER.objects.filter(feeder=made)
    }
    flow = opendss_pf.solve(Network.from_dict(version.model), OperatingState(1.0, ders))
    return flow.substation_p_kw, flow.substation_q_kvar


def gateway(port: int, dso_feeder: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    args = ["run_dnp3_gateway", "--ems-port", str(port), "--dso-feeder", dso_feeder]
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def gateways() -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str]]]:
    feeder("feedera", pv=10)
    feeder("bare", pv=0)
    first = ports(2)
    do_save_dso_endpoint(None, "test", bus=5, name="dso-a", host="127.0.0.1", port=first, feeder_count=COUNT)
    do_save_dso_endpoint(None, "test", bus=7, name="dso-bare", host="127.0.0.1", port=first + 1)
    procs = (gateway(first, f"feedera:{COUNT}"), gateway(first + 1, "bare"))
    yield procs
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def opf_run(base_a: tuple[float, float], base_bare: tuple[float, float]) -> OpfRun:
    dsos = [
        DsoInterface(5, COUNT, -150.0, 150.0, p_kw=base_a[0], q_kvar=base_a[1]),
        DsoInterface(7, 1, -100.0, 100.0, p_kw=base_bare[0], q_kvar=base_bare[1]),
    ]
    return do_run_opf(None, "test", "case9", dsos)


def send(run: OpfRun) -> dict[str, Any]:
    out = io.StringIO()
    call_command("run_ems_link", "--run", str(run.pk), "--answer-timeout", "120", "--json", stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_it_closes_the_loop_and_reports_refusals(
    worker: Any, gateways: tuple[subprocess.Popen[str], subprocess.Popen[str]]
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
