"""A fresh demo's EMS side matches the DSO the demo starts (issue #11 item 3): the interface at case9
bus 5 is registered as the one ieee123 feeder the Procfile's DNP3 gateway serves, with that feeder's
base demand, and the OPF form starts from it — not from seed 004's 22 feeders."""

from __future__ import annotations

import io
import itertools
import json
import shlex
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from apps.der_registry.demo import seed_registry
from apps.der_registry.demo_ckt5 import ensure_ckt5
from apps.dms.engine import opendss_pf
from apps.dms.engine.network import Network, OperatingState
from apps.ems.demo import (
    DEMO_BUS,
    DEMO_DSO,
    DEMO_FEEDERS,
    DEMO_P_BASE_KW,
    DEMO_PORT,
    DEMO_Q_BASE_KVAR,
    seed_dso_endpoints,
)
from apps.ems.models import DsoEndpoint
from crest_web.launcher import PLANT_LAYOUT
from tests.conftest import ROOT


def procfile_line(process: str) -> dict[str, str]:
    line = next(t for t in (ROOT / "Procfile").read_text().splitlines() if t.startswith(f"{process}:"))
    words = shlex.split(line.partition(":")[2])
    return {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--")}


def procfile_gateway() -> dict[str, str]:
    return procfile_line("dnp3")


def procfile_rtus() -> dict[str, tuple[str, int, int]]:
    """The substation RTUs the Procfile's gateway reads: feeder → (host, port, address)."""
    line = next(t for t in (ROOT / "Procfile").read_text().splitlines() if t.startswith("dnp3:"))
    words = shlex.split(line.partition(":")[2])
    rtus = {}
    for flag, value in itertools.pairwise(words):
        if flag == "--rtu":
            feeder, _, where = value.partition("=")
            host, port, address = where.split(":")
            rtus[feeder] = (host, int(port), int(address))
    return rtus


def test_it_registers_the_dso_the_demo_starts() -> None:
    gateway = procfile_gateway()
    name, _, count = gateway["--dso-feeder"].partition(":")
    assert (name, int(count or 1)) == (DEMO_DSO, DEMO_FEEDERS)
    # The EMS dials the registered port; the plant relays it to the gateway (a trainer can cut it).
    link_name, _, ports = procfile_line("plant")["--link"].partition("=")
    assert (link_name, ports) == (DEMO_DSO, f"{DEMO_PORT}:{gateway['--ems-port']}")


def test_its_base_is_the_demo_feeders_own_demand() -> None:
    net = Network.from_dict(json.loads((ROOT / "apps" / "dms" / "fixtures" / "ieee123.json").read_text()))
    flow = opendss_pf.solve(net, OperatingState(1.0, {}))
    assert flow.substation_p_kw == pytest.approx(DEMO_P_BASE_KW, abs=0.1)
    assert flow.substation_q_kvar == pytest.approx(DEMO_Q_BASE_KVAR, abs=0.1)


def test_a_fresh_demo_s_opf_form_starts_from_the_registered_interface(operator_client: Client) -> None:
    assert seed_dso_endpoints() and not seed_dso_endpoints()
    endpoint = DsoEndpoint.objects.get(bus=DEMO_BUS)
    assert (endpoint.feeder_count, endpoint.port) == (1, DEMO_PORT)
    page = operator_client.get("/ems/runs/").content.decode()
    assert f"{DEMO_BUS}x1:0:0:3615.3:1311.5</textarea>" in page and "5x22" not in page


@pytest.mark.django_db
def test_an_interface_registered_before_it_had_a_base_gets_the_demo_feeders() -> None:
    DsoEndpoint.objects.create(bus=DEMO_BUS, name="renamed", host="10.0.0.5", port=20600)
    assert seed_dso_endpoints()
    endpoint = DsoEndpoint.objects.get(bus=DEMO_BUS)
    assert (endpoint.name, endpoint.host, endpoint.port) == ("renamed", "10.0.0.5", 20600)  # kept
    assert (endpoint.p_base_kw, endpoint.q_base_kvar) == (DEMO_P_BASE_KW, DEMO_Q_BASE_KVAR)


@pytest.mark.django_db
def test_the_gateway_reads_the_rtus_the_demo_plant_serves(tmp_path: Path) -> None:
    seed_registry(count=10)
    ensure_ckt5()
    out = tmp_path / "layout.json"
    call_command("export_plant_layout", "--out", str(out), *PLANT_LAYOUT, stdout=io.StringIO())
    rtus = {f["model"]["name"]: f["rtu"] for f in json.loads(out.read_text())["feeders"]}
    read = procfile_rtus()
    assert set(read) == {"ieee123", "ckt5"}
    for feeder, where in read.items():
        assert where == ("127.0.0.1", rtus[feeder]["port"], rtus[feeder]["address"])
    assert len({r["port"] for r in rtus.values()}) == len(rtus)  # one port each
    plant = next(t for t in (ROOT / "Procfile").read_text().splitlines() if t.startswith("plant:"))
    assert "--layout .data/plant/layout.json" in plant and "--demo-clock" in plant
