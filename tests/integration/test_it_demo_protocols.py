"""The demo's field protocols as `make demo` runs them: the demo registry pointed at the field
devices, its plant layout exported, then `run_sep2_server`, `run_dnp3_gateway` and `run_plant` (the
grid simulator serving the DNP3 DERs and running the 2030.5 clients) as subprocesses on loopback
(free ports) against the test database. Monitoring must arrive over DNP3, over 2030.5 from a device
and from behind the aggregator, and set points must be acknowledged by the devices. A trainer's
lost segment silences the 2030.5 devices behind it until it ends."""

from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.der_registry import actions
from apps.der_registry.demo import AGGREGATOR, connect_field, seed_registry
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi
from apps.der_registry.models import (
    DER,
    DERGroup,
    LatestMonitoring,
    MonitoringSample,
    Sep2EndDevice,
    SetPoint,
)
from crest_web.env import database_url_with_name
from crest_web.launcher import free_port
from tests.integration.dnp3_support import ports, until
from tests.integration.test_it_plant import instructor

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SIM_SEP2, SIM_AGGREGATED = 3, 3  # of the enrolled identities, the clients this test runs


@dataclass
class Field:
    started: dt.datetime
    dnp3: list[DER]
    sep2: list[DER]
    aggregated: list[DER]
    control: int  # the plant's instructor API port


def manage(*args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace")[-2000:]


@pytest.fixture
def field(tmp_path: Path) -> Iterator[Field]:
    certs, sep2_port = tmp_path / "sep2", free_port()
    seed_registry(count=60, dnp3_base_port=(base := ports(13)))  # the 13th: the RTU
    plan = connect_field(certs, dnp3_base_port=base)
    assert plan["dnp3"] == 12 and plan["sep2"] >= SIM_SEP2 and plan["aggregated"] >= SIM_AGGREGATED
    assert connect_field(certs, dnp3_base_port=base)["changed"] == 0  # certificates reused: nothing moves
    url = f"https://127.0.0.1:{sep2_port}"
    layout = tmp_path / "layout.json"
    call_command(
        "export_plant_layout", "--out", str(layout), "--feeder", "ieee123",
        "--rtu-base-port", str(rtu_port()),
        "--tiers", "fan",  # every DER's link crosses a field area network the trainer can cut
    )  # fmt: skip
    control = free_port()
    procs = [
        manage(
            "run_sep2_server",
            *("--host", "127.0.0.1", "--port", str(sep2_port), "--poll-rate", "1"),
            *("--cert", str(certs / "server.crt"), "--key", str(certs / "server.key")),
            *("--ca", str(certs / "ca.crt"), "--notify-period", "0.5"),
        ),
        manage("run_dnp3_gateway", "--poll", "0.5", "--record-every", "0.5"),
        manage(
            "run_plant",
            *("--layout", str(layout), "--ratio", "10", "--start-hour", "11"),  # the sun is up
            *("--sep2", str(SIM_SEP2), "--sep2-aggregated", str(SIM_AGGREGATED)),
            *("--sep2-url", url, "--sep2-certs", str(certs), "--sep2-poll", "1"),
            *("--control-port", str(control)),
        ),
    ]
    demo = DER.objects.filter(status="active").order_by("serial_number")
    yield Field(
        timezone.now().replace(microsecond=0),  # 2030.5 reading times are whole seconds
        list(demo.filter(comm_path="dnp3_direct")),
        [d for d in demo.filter(comm_path="sep2_direct") if d.lfdi in _sim_lfdis(certs)],
        list(demo.filter(comm_path="via_aggregator", lfdi__in=_aggregated_lfdis())),
        control,
    )
    errors = [stop(p) for p in procs]
    print("\n".join(e for e in errors if e))  # shown when the test failed


def rtu_port() -> int:
    """A port past every DER's (registered DNP3 DERs not served here keep theirs)."""
    return max(DER.objects.exclude(dnp3_port=None).values_list("dnp3_port", flat=True)) + 1


def _sim_lfdis(certs: Path) -> set[str]:
    from apps.der_registry.engine.sep2.sim_fleet import demo_clients

    return {c.lfdi for c in demo_clients(SIM_SEP2, certs)}


def _aggregated_lfdis() -> set[str]:
    from apps.der_registry.engine.sep2.sim_fleet import aggregated_devices

    return {d.lfdi for d in aggregated_devices(SIM_AGGREGATED)}


def reported(der: DER, since: dt.datetime) -> bool:
    return MonitoringSample.objects.filter(der=der, t__gte=since).exists()


def metered(der: DER) -> bool:
    latest = LatestMonitoring.objects.filter(
        der=der, t__gte=timezone.now() - dt.timedelta(seconds=30)
    ).first()
    return (
        latest is not None
        and latest.p_kw is not None
        and 0 < latest.p_kw <= der.np_active_power_kw
        and latest.q_kvar is not None
        and 0.9 <= latest.v_pu <= 1.1  # the plant's voltage at its bus
        and latest.f_hz == pytest.approx(60.0, abs=0.021)
    )


def at_set_point(der: DER) -> bool:
    """Q at the set point's -1.5 kvar; a 2030.5 inverter also keeps P under the 4 kW limit."""
    latest = LatestMonitoring.objects.get(der=der)
    p_ok = der.comm_path == "dnp3_direct" or 0 < (latest.p_kw or 0.0) <= 4.0
    return latest.q_kvar == pytest.approx(-1.5, abs=0.01) and p_ok


def acknowledged(sp: SetPoint) -> bool:
    return SetPoint.objects.get(pk=sp.pk).status == "acknowledged"


def test_it_the_demo_field_reports_and_follows_set_points_over_dnp3_and_2030_5(field: Field) -> None:
    dnp3, device, behind = field.dnp3[0], field.sep2[0], field.aggregated[0]
    mesa = next(d for d in field.dnp3 if d.dnp3_point_map == "ieee1815_2")  # a Level 2 device, g41v1
    assert len(field.sep2) == SIM_SEP2 and len(field.aggregated) == SIM_AGGREGATED
    assert until(lambda: all(reported(d, field.started) for d in (dnp3, mesa, device, behind)), limit_s=60)
    # The 1815.2 device's voltage is its line-to-line average over its reference: the plant's, in pu.
    assert 0.9 <= (LatestMonitoring.objects.get(der=mesa).v_pu or 0.0) <= 1.1

    latest = LatestMonitoring.objects.get(der=dnp3)
    assert latest.p_kw is not None and 0 < latest.p_kw <= 10.0  # the simulated inverter's output
    edevs = Sep2EndDevice.objects.filter(der__in=[device, behind])
    assert {(e.der_id, e.aggregator_id) for e in edevs} == {
        (device.pk, None),
        (behind.pk, DERGroup.objects.get(name=AGGREGATOR).pk),
    }
    assert all("ders" in e.reported_at for e in edevs)
    assert LatestMonitoring.objects.get(der=behind).connection_status == "connected"
    # P, Q, V, f arrive through each 2030.5 device's metering mirror, direct and via the aggregator.
    assert until(lambda: all(metered(d) for d in (device, behind)), limit_s=30), [
        LatestMonitoring.objects.filter(der__in=[device, behind]).values()
    ]

    sps = [
        actions.do_issue_setpoint(
            None, "system", der.pk, control_mode="active_reactive", q_kvar=-1.5, p_limit_kw=4.0
        )
        for der in (dnp3, mesa, device, behind)
    ]
    assert until(lambda: all(acknowledged(sp) for sp in sps), limit_s=60), [
        SetPoint.objects.get(pk=sp.pk).status for sp in sps
    ]
    # Every inverter now runs at the set point, and says so in its measurements (DNP3 analog
    # inputs; 2030.5 mirror readings with the registry's sign: -1.5 kvar is absorbed).
    for der in (dnp3, mesa, device, behind):
        assert until(functools.partial(at_set_point, der), limit_s=30), LatestMonitoring.objects.get(der=der)

    # The trainer cuts the field area network: the 2030.5 devices behind it go silent (no poll, no
    # reading) until the scenario ends, and then report again by themselves.
    lost = {"id": 1, "kind": "segment_lost", "tier": "fan", "duration_s": 600}
    assert instructor(field.control, "/scenarios", lost) == 201
    time.sleep(3.0)  # the plant holds it from its next step (one a second); a poll under way ends
    cut_at = timezone.now()
    time.sleep(5.0)  # five of the devices' poll periods
    assert not MonitoringSample.objects.filter(der__in=[device, behind], t__gt=cut_at).exists()
    assert instructor(field.control, "/scenarios/1/end", {}) == 200
    assert until(lambda: all(reported(d, cut_at) for d in (device, behind)), limit_s=30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sep2-aggregated", "-1"], "give 0 or more"),
        (["--sep2-poll", "0"], "--sep2-poll is a period in seconds"),
        (["--sep2", "1", "--sep2-certs", "/nonexistent"], "/nonexistent needs ca.crt"),
    ],
)
def test_it_the_field_sim_refuses_bad_2030_5_options_in_words(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("run_field_sim", *args)


def test_it_an_aggregator_identity_is_refused_in_words_and_nothing_is_stored(enrolled: Any) -> None:
    actions.do_create_group(None, "system", "agg-x", "aggregator")
    actions.do_create_group(None, "system", "grid-x", "microgrid")
    der = enrolled("active", lfdi="AB" * 20, sfdi=sfdi_from_lfdi("AB" * 20))
    cases = [
        ("agg-x", "12345", "40 hexadecimal digits"),
        ("grid-x", "CD" * 20, "only an aggregator"),
        ("agg-x", der.lfdi, "already belongs to another DER"),
        ("nobody", "CD" * 20, "no group named"),
    ]
    for name, lfdi, words in cases:
        with pytest.raises(actions.RegistryError, match=words):
            actions.do_set_group_lfdi(None, "system", name, lfdi)
    assert set(DERGroup.objects.values_list("lfdi", flat=True)) == {""}
    assert actions.do_set_group_lfdi(None, "system", "agg-x", "cd" * 20).lfdi == "CD" * 20
