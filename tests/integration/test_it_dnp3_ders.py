"""DMS as DNP3 master to 200 simulated DER outstations through the gateway: registry set points
go out and come back confirmed, measurements land in the registry; bad set points store nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.alarms.models import Alarm
from apps.der_registry import actions
from apps.der_registry.actions import RegistryError
from apps.der_registry.models import LatestMonitoring, MonitoringSample, SetPoint
from apps.dms.engine.dnp3.master import Endpoint, MasterOptions, MasterPool
from apps.dms.engine.dnp3.points import DER, DERLimits
from apps.dms.engine.dnp3.simulator import FieldSim, SimDER
from apps.dms.gateway import Dnp3Gateway, GatewayOptions
from tests.conftest import ROOT, dnp3
from tests.integration.dnp3_support import ports, send_junk, until

RATED = DERLimits(p_max_kw=10.0, q_inj_max_kvar=4.84, q_abs_max_kvar=4.84, s_max_kva=11.0)  # as make_record
MASTER = MasterOptions(
    response_timeout_s=3.0, event_poll_s=0.5, integrity_poll_s=60.0, retry_min_s=0.1, retry_max_s=1.0
)


def field(enrolled: Callable[..., Any], n: int, limits: DERLimits = RATED) -> tuple[list[Any], FieldSim]:
    base = ports(n)
    ders = [
        enrolled(
            "active",
            name=f"dnp3-pv-{i}",
            serial_number=f"SN-D{i:04d}",
            **dnp3(10, "127.0.0.1", dnp3_port=base + i),
        )
        for i in range(n)
    ]
    sim = FieldSim([SimDER(base + i, 10, limits, available_kw=8.0) for i in range(n)])
    sim.start(update_s=0.5)
    return ders, sim


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else value


@pytest.fixture
def gateway() -> Iterator[Dnp3Gateway]:
    gw = Dnp3Gateway(GatewayOptions(timeout_s=60.0, record_every_s=0.0, master=MASTER))
    yield gw
    gw.close()


def test_it_gateway_sets_200_ders_and_records_their_measurements(
    enrolled: Callable[..., Any], gateway: Dnp3Gateway
) -> None:
    ders, sim = field(enrolled, 200)
    try:
        assert gateway.load() == 200
        ids = [d.pk for d in ders]
        assert until(lambda: LatestMonitoring.objects.filter(der_id__in=ids).count() == 200, gateway.step, 60)
        wanted = {d.pk: round(-4.0 + 0.04 * i, 2) for i, d in enumerate(ders)}
        for der_id, q in wanted.items():
            actions.do_issue_setpoint(
                None, "system", der_id, control_mode="active_reactive", p_limit_kw=6.0, q_kvar=q
            )
        acknowledged = SetPoint.objects.filter(der_id__in=ids, status="acknowledged")
        assert until(lambda: acknowledged.count() == 200, gateway.step, 60)
        # the devices follow, and their reports of it reach the registry
        assert all(sim.running[(d.dnp3_port, 10)].inverter.state.q_set_kvar == wanted[d.pk] for d in ders)

        def registry_follows() -> bool:
            gateway.flush()
            rows = dict(LatestMonitoring.objects.filter(der_id__in=ids).values_list("der_id", "q_kvar"))
            return all(abs(_or_inf(rows.get(k)) - q) < 1e-3 for k, q in wanted.items())

        assert until(registry_follows, gateway.step, 60)
        latest = LatestMonitoring.objects.get(der_id=ders[0].pk)
        assert (latest.p_kw, latest.operating_state, latest.connection_status) == (
            pytest.approx(6.0, abs=1e-3),
            "on",
            "connected",
        )
        assert 0.95 < (latest.v_pu or 0) < 1.05 and 59.9 < (latest.f_hz or 0) < 60.1
        assert not Alarm.objects.filter(cleared_at__isnull=True).exists()
    finally:
        sim.stop()


def test_it_a_set_point_outside_the_ders_range_is_refused_and_stores_nothing(
    enrolled: Callable[..., Any], gateway: Dnp3Gateway
) -> None:
    (der,), sim = field(enrolled, 1)
    try:
        with pytest.raises(RegistryError, match="q_kvar") as refused:
            actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=9.0)
        assert "4.84" in str(refused.value)
        gateway.load()
        for _ in range(10):
            gateway.step()
        assert not SetPoint.objects.filter(der=der).exists()
        assert sim.running[(der.dnp3_port, 10)].inverter.state.q_set_enabled is False
    finally:
        sim.stop()


def test_it_a_device_refusing_a_set_point_marks_it_failed_with_its_reason(
    enrolled: Callable[..., Any], gateway: Dnp3Gateway
) -> None:
    smaller = DERLimits(
        p_max_kw=10.0, q_inj_max_kvar=2.0, q_abs_max_kvar=2.0, s_max_kva=11.0
    )  # registry says 4.84
    (der,), sim = field(enrolled, 1, smaller)
    try:
        gateway.load()
        sp = actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=4.0)
        assert until(lambda: SetPoint.objects.get(pk=sp.pk).status != "issued", gateway.step, 30)
        sp.refresh_from_db()
        assert sp.status == "failed"
        assert "refused by the outstation: out of range" in sp.note
        assert sim.running[(der.dnp3_port, 10)].inverter.state.q_set_kvar == 0.0
    finally:
        sim.stop()


def test_it_junk_on_a_der_port_does_not_bring_down_the_outstation_or_the_gateway(
    enrolled: Callable[..., Any], gateway: Dnp3Gateway
) -> None:
    (der,), sim = field(enrolled, 1)
    try:
        gateway.load()
        assert until(lambda: MonitoringSample.objects.filter(der=der).exists(), gateway.step, 30)
        for _ in range(3):
            send_junk(der.dnp3_port)
            gateway.step()
        sp = actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=-1.5)
        assert until(lambda: SetPoint.objects.get(pk=sp.pk).status == "acknowledged", gateway.step, 30)
        assert sim.running[(der.dnp3_port, 10)].inverter.state.q_set_kvar == -1.5
    finally:
        sim.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run_field_sim", "--dnp3", "-1"], "give 0 or more"),
        (["run_field_sim", "--dnp3", "10", "--base-port", "60000"], "do not fit"),
        (["run_field_sim", "--outage", "mars:1:2"], "invalid outage value"),
        (["run_dnp3_gateway", "--tls-dir", "/nonexistent"], "TLS files not found"),
        (["run_dnp3_gateway", "--timeout", "-3"], "invalid positive value"),
    ],
)
def test_it_field_commands_refuse_bad_arguments(db: None, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command(*args)


def test_it_field_sim_command_serves_outstations_until_terminated() -> None:
    base = ports(3)
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_field_sim",
            "--dnp3",
            "3",
            "--base-port",
            str(base),
            "--tier",
            "lan",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pool = MasterPool(MASTER)
    try:
        assert proc.stdout is not None and "3 DNP3 outstations" in proc.stdout.readline()
        links = [pool.add(f"d{i}", Endpoint("127.0.0.1", base + i, 10), DER) for i in range(3)]
        # Operate only once each master has heard its outstation (the start-up integrity poll):
        # before that the channel may still be connecting and the command would fail for no comms.
        heard: set[str] = set()
        step = lambda: heard.update(e.key for e in pool.drain(0.2) if e.kind == "values")  # noqa: E731
        assert until(lambda: len(heard) == 3, step), f"heard only {sorted(heard)}"
        outcomes = [link.operate("q_set_kvar", -1.0).result(timeout=30) for link in links]
        assert all(o.ok for o in outcomes), outcomes
    finally:
        pool.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
