"""A DSO on loopback for the EMS–DMS tests: feeders with PV whose DERs are simulated DNP3 inverter
outstations, and a DNP3 gateway per DSO that serves the EMS link and dispatches on a real worker."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.db import connection

from apps.der_registry import actions as registry
from apps.der_registry.models import DER
from apps.dms.actions import do_add_feeder_version
from apps.dms.engine import opendss_pf
from apps.dms.engine.network import DerInjection, Network, OperatingState
from apps.dms.models import Feeder
from apps.ems.actions import do_run_opf, do_save_dso_endpoint
from apps.ems.engine.dso import DsoInterface
from apps.ems.models import DsoEndpoint, OpfRun
from crest_web.env import database_url_with_name
from tests.conftest import ROOT
from tests.integration.dnp3_support import ports

SHARE = 0.6  # PV output now, of the rating
COUNT = 2  # identical feeders behind the interface at bus 5
SEGMENT = 4  # DERs in the first field segment (its own simulator process)
GATEWAY_INTERVAL_S = 30.0  # the DMS's stage budgets: it waits at most 15 s for its DERs' confirmations


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


@dataclass
class Field:
    """The feeder's DERs as DNP3 inverter outstations on loopback, in two field segments, each its
    own `run_field_sim` process: the first SEGMENT DERs (by port) and the rest."""

    ports: list[int]
    segment: subprocess.Popen[str]
    rest: subprocess.Popen[str]

    @property
    def segment_ports(self) -> list[int]:
        return self.ports[:SEGMENT]

    def stop(self) -> None:
        for proc in (self.segment, self.rest):
            _end(proc)


def field(made: Feeder) -> Field:
    """Point the registry's DERs of `made` at loopback outstations (DNP3 direct) and start them."""
    ders = list(DER.objects.filter(feeder=made).order_by("name"))
    first = ports(len(ders))
    for i, der in enumerate(ders):
        DER.objects.filter(pk=der.pk).update(
            comm_path="dnp3_direct", dnp3_host="127.0.0.1", dnp3_port=first + i, dnp3_outstation_address=10
        )
    at = [first + i for i in range(len(ders))]
    cut = at[SEGMENT - 1]
    segment = _sim(made.name, f"{first}-{cut}")
    rest = _sim(made.name, f"{cut + 1}-{at[-1]}")
    return Field(at, segment, rest)


def _sim(feeder_name: str, port_range: str) -> subprocess.Popen[str]:
    proc = _manage("run_field_sim", "--feeder", feeder_name, "--ports", port_range)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once every outstation listens
    assert "Field simulator" in line, line + proc.stdout.read()
    return proc


def _manage(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _end(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def gateway(port: int, dso_feeder: str) -> subprocess.Popen[str]:
    name = dso_feeder.partition(":")[0]
    args = ["run_dnp3_gateway", "--ems-port", str(port), "--dso-feeder", dso_feeder, "--feeder", name]
    args += ["--interval", str(GATEWAY_INTERVAL_S), "--poll", "0.5", "--record-every", "0.5"]
    return _manage(*args)


@pytest.fixture
def field_sim() -> Iterator[Field]:
    sim = field(feeder("feedera", pv=10))
    yield sim
    sim.stop()


@pytest.fixture
def gateways(field_sim: Field) -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str]]]:
    feeder("bare", pv=0)
    first = ports(2)
    do_save_dso_endpoint(None, "test", bus=5, name="dso-a", host="127.0.0.1", port=first, feeder_count=COUNT)
    do_save_dso_endpoint(None, "test", bus=7, name="dso-bare", host="127.0.0.1", port=first + 1)
    procs = (gateway(first, f"feedera:{COUNT}"), gateway(first + 1, "bare"))
    yield procs
    for proc in procs:
        _end(proc)


def opf_run(base_a: tuple[float, float], base_bare: tuple[float, float]) -> OpfRun:
    dsos = [
        DsoInterface(5, COUNT, -150.0, 150.0, p_kw=base_a[0], q_kvar=base_a[1]),
        DsoInterface(7, 1, -100.0, 100.0, p_kw=base_bare[0], q_kvar=base_bare[1]),
    ]
    return do_run_opf(None, "test", "case9", dsos)


def runs_at(setpoints: dict[int, float]) -> bool:
    """Whether every DER (by port) now reports the Q of its set point (the gateway stores what the
    outstations measure)."""
    reported = dict(
        DER.objects.filter(dnp3_port__in=list(setpoints)).values_list("dnp3_port", "latest__q_kvar")
    )
    return all(
        reported.get(port) is not None and abs(float(reported[port]) - q) < 1e-3
        for port, q in setpoints.items()
    )


def register_base() -> None:
    """The DSO's base demand per feeder, as an admin registers it (EMS › DSO interfaces)."""
    p_kw, q_kvar = present(Feeder.objects.get(name="feedera"))
    DsoEndpoint.objects.filter(bus=5).update(p_base_kw=p_kw, q_base_kvar=q_kvar)
    p_kw, q_kvar = present(Feeder.objects.get(name="bare"))
    DsoEndpoint.objects.filter(bus=7).update(p_base_kw=p_kw, q_base_kvar=q_kvar)
