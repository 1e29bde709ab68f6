"""The DMS's own view of an exchange reaches the EMS over the real DNP3 link (issue #11 items 2 and 3):
its feeder count, the request as it took it (total and per feeder), what it fell short of and why,
and the voltage violations its dispatch left. The EMS checks the count against the registered
interface and alarms a mismatch or a request not met; the DMS stays "healthy" — that is about it
running. The DMS's outstation runs in the test (`DsoServer.step` on this thread); the dispatch run it
queues is finished here with the result a dispatch stores, so each outcome is exact."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from apps.alarms.models import Alarm
from apps.dms.actions import do_add_feeder_version
from apps.dms.dso_server import DsoConfig, DsoServer
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.network import Network
from apps.dms.models import DispatchRun
from apps.ems.actions import do_record_dso_exchange, do_run_opf, do_save_dso_endpoint
from apps.ems.engine.dnp3_link import EmsDnp3Master
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.dso_exchange import Exchange, exchange
from apps.ems.link import outgoing
from apps.ems.models import DsoEndpoint, DsoMessage
from tests.conftest import ROOT
from tests.integration.dnp3_support import ports, until

OPTIONS = MasterOptions(
    response_timeout_s=2.0, event_poll_s=0.2, integrity_poll_s=30.0, retry_min_s=0.1, retry_max_s=1.0
)
BASE_P_KW, BASE_Q_KVAR = 3000.0, 1000.0  # per feeder, as registered
WIRE_KVAR = 0.1  # analog inputs carry 0.1 kvar steps (scale 10)


def make_feeder(name: str, pv: int) -> None:
    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    net = dataclasses.replace(Network.from_dict(json.loads(text)), name=name)
    do_add_feeder_version(None, "system", net, source_name="ieee13.json", source_text=text)
    if pv:
        call_command("add_pv", name, "--count", str(pv), "--seed", "3", stdout=io.StringIO())


@pytest.fixture
def dms(request: pytest.FixtureRequest, db: None) -> Iterator[DsoServer]:
    feeder, count, pv = request.param
    make_feeder(feeder, pv)
    server = DsoServer(DsoConfig(feeder, ports(1), count=count))
    yield server
    server.close()


def registered_run(server: DsoServer, count: int) -> tuple[DsoMessage, DsoEndpoint]:
    endpoint = do_save_dso_endpoint(
        None,
        "test",
        bus=5,
        name="dso-a",
        host="127.0.0.1",
        port=server.config.port,
        feeder_count=count,
        p_base_kw=BASE_P_KW,
        q_base_kvar=BASE_Q_KVAR,
    )
    run = do_run_opf(None, "test", "case9", [DsoInterface(5, count, -200.0, 200.0)])
    return run.messages.get(), endpoint


def send(server: DsoServer, message: DsoMessage, endpoint: DsoEndpoint, result: dict[str, Any]) -> Exchange:
    """Send the message over DNP3; when the DMS queued its dispatch, finish the run with `result`."""
    master = EmsDnp3Master(OPTIONS)
    master.add_dso(endpoint.name, endpoint.host, endpoint.port)
    found: list[Exchange] = []
    o = outgoing(message, endpoint)
    worker = threading.Thread(target=lambda: found.extend(exchange(master, [o], answer_timeout_s=60)))
    worker.start()
    try:
        if result:
            assert until(lambda: bool(server.pending), server.step)
            run = DispatchRun.objects.get(pk=next(iter(server.pending)))
            achieved = run.q_requested_kvar - result.pop("short_per_feeder_kvar", 0.0)
            DispatchRun.objects.filter(pk=run.pk).update(
                status="done", q_achieved_kvar=achieved, result=result
            )
        assert until(lambda: not worker.is_alive(), server.step, limit_s=90)
    finally:
        worker.join(90)
        master.close()
    return found[0]


@pytest.mark.parametrize("dms", [("feedera", 2, 4)], indirect=True)
def test_it_reports_the_shortfall_its_cause_and_the_violations_left(dms: DsoServer) -> None:
    message, endpoint = registered_run(dms, 2)
    per_feeder = BASE_Q_KVAR - message.q_request_kvar  # what each feeder is asked to draw
    result = {
        "short_per_feeder_kvar": 300.0,
        "shortfalls": [
            {
                "quantity": "q",
                "requested": per_feeder,
                "achieved": per_feeder - 300.0,
                "cause": "voltage limit",
                "detail": "holding every voltage within limits cost 300 kvar",
            }
        ],
        "violations_after": 5,
        "v_max_pu_after": 1.0622,
        "v_min_pu_after": 0.97,
        "flexibility": {"headroom": 0.0, "q_min_kvar": per_feeder - 400.0, "q_max_kvar": per_feeder + 400.0},
    }
    answer = send(dms, message, endpoint, result)
    assert answer.error == "", answer.error
    do_record_dso_exchange(None, "test", message.pk, answer)

    message.refresh_from_db()
    assert message.dms_healthy is True and message.fallback_active is False  # the DMS runs
    assert message.dms_feeder_count == 2
    assert message.dms_q_received_kvar == pytest.approx(2 * per_feeder, abs=WIRE_KVAR)
    assert message.dms_q_received_per_feeder_kvar == pytest.approx(per_feeder, abs=WIRE_KVAR)
    assert message.dms_q_shortfall_kvar == pytest.approx(600.0, abs=WIRE_KVAR)
    assert message.dms_shortfall_cause == "voltage limit" and message.dms_violations_left == 5
    alarm = Alarm.objects.get(kind="dso_shortfall", source_type="dso", source_id="5", cleared_at__isnull=True)
    assert "600 kvar short" in alarm.message and "voltage limit" in alarm.message
    assert "violations" not in alarm.message  # their own alarm
    violation = Alarm.objects.get(kind="violation", source_type="dso", source_id="5", cleared_at__isnull=True)
    assert violation.message == "DSO dso-a at bus 5: 5 voltage violations left after its dispatch."
    assert not Alarm.objects.filter(kind="dso_mismatch").exists()
    endpoint.refresh_from_db()  # the range it reported is the next OPF's default
    assert (endpoint.q_min_kvar, endpoint.q_max_kvar) == (
        pytest.approx(message.q_request_kvar - 400.0, abs=WIRE_KVAR),
        pytest.approx(message.q_request_kvar + 400.0, abs=WIRE_KVAR),
    )


@pytest.mark.parametrize("dms", [("bare", 1, 0)], indirect=True)
def test_it_alarms_a_dms_that_counts_other_feeders_than_registered(dms: DsoServer) -> None:
    message, endpoint = registered_run(dms, 2)  # the EMS thinks 2 feeders; the DMS was started with 1
    answer = send(dms, message, endpoint, {})  # no DERs: refused at once, nothing dispatched
    do_record_dso_exchange(None, "test", message.pk, answer)

    message.refresh_from_db()
    assert message.dms_feeder_count == 1 and message.dms_healthy is False and message.fallback_active
    assert message.dms_shortfall_cause == "not dispatched"
    wire = 2 * (BASE_Q_KVAR - message.q_request_kvar)
    assert message.dms_q_received_kvar == pytest.approx(wire, abs=WIRE_KVAR)
    assert message.dms_q_received_per_feeder_kvar == pytest.approx(wire, abs=WIRE_KVAR)  # divided by 1
    mismatch = Alarm.objects.get(kind="dso_mismatch", source_id="5", cleared_at__isnull=True)
    assert "the DMS models 1 feeder" in mismatch.message and "registered with 2" in mismatch.message
    assert Alarm.objects.filter(kind="dso_shortfall", source_id="5", cleared_at__isnull=True).exists()
