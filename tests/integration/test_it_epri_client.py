"""EPRI's reference IEEE 2030.5 client, built from `../shared/interop/` (tests/integration/epri_client.py),
against our server started here on loopback with certificates on the 2030.5 profile (issue #16
acceptance). The client registers (PIN 111115, the CSIP test PIN), walks the DER program, reports its
DERCapability, DERSettings, DERStatus and DERAvailability, and follows the controls it finds; a set
point issued while it polls is received, responded to and, when the next one is issued, superseded.
Its csip_test, given nothing but a network interface, finds the server by DNS-SD (multicast DNS) on a
link of the test's own and follows a control issued while it runs."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from apps.der_registry import actions
from apps.der_registry.engine.curves import VOLT_VAR_1547_B
from apps.der_registry.engine.sep2 import certs
from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.server import Sep2Server, ServerThread, server_context
from apps.der_registry.models import DER, Sep2EndDevice, Sep2Response, SetPoint
from apps.der_registry.sep2_dnssd import start_dnssd
from apps.der_registry.sep2_store import RegistryStore
from crest_web.env import database_url_with_name
from tests.conftest import ROOT
from tests.integration import epri_client
from tests.integration.dnp3_support import until
from tests.integration.epri_client import Device

pytestmark = pytest.mark.django_db(transaction=True)
CSIP_TEST_PIN = "111115"  # the PIN the EPRI client expects in its Registration


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return epri_client.build(tmp_path_factory.mktemp("epri"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[certs.CertFiles, Device]:
    folder = tmp_path_factory.mktemp("epri-pki")
    ca = certs.make_ca(folder)
    certs.make_cert(ca, folder, "server", server=True)
    return ca, epri_client.device_files(ca, folder, "inverter")


@contextlib.contextmanager
def serving(pki: tuple[certs.CertFiles, Device], host: str) -> Iterator[ServerThread]:
    ca, _ = pki
    folder = ca.cert.parent
    ctx = server_context(folder / "server.crt", folder / "server.key", ca.cert)
    server_lfdi = certs.load(folder / "server.crt", folder / "server.key").lfdi
    app = Sep2App(RegistryStore(), poll_s=2, server_lfdi=server_lfdi)
    thread = ServerThread(Sep2Server(app, workers=4), host, 0, ctx)
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def url(pki: tuple[certs.CertFiles, Device], transactional_db: None) -> Iterator[str]:
    with serving(pki, "127.0.0.1") as thread:
        yield f"https://127.0.0.1:{thread.port}/dcap"


@pytest.fixture
def inverter(pki: tuple[certs.CertFiles, Device], enrolled: Callable[..., Any]) -> DER:
    _, device = pki
    der: DER = enrolled("active", lfdi=device.lfdi, sfdi=device.sfdi, registration_pin=CSIP_TEST_PIN)
    return der


def test_the_client_built_is_the_shared_source_unmodified() -> None:
    """The copy in tests/data/interop is the shared source, file for file (when the shared folder is
    there: a clone elsewhere has only the copy)."""
    if not epri_client.SHARED.is_dir():
        return
    ours = {
        p.relative_to(epri_client.SOURCE): p.read_bytes()
        for p in epri_client.SOURCE.rglob("*")
        if p.is_file()
    }
    theirs = {
        p.relative_to(epri_client.SHARED): p.read_bytes()
        for p in epri_client.SHARED.rglob("*")
        if p.is_file()
    }
    assert ours == theirs


def failures(run: epri_client.Run) -> list[str]:
    return run.lines("failed") + [f"{r}: {s}" for r, s in run.statuses if s >= 400]


def test_it_registers_walks_the_program_and_reports(
    tools: Path, pki: tuple[certs.CertFiles, Device], url: str, inverter: DER
) -> None:
    ca, device = pki
    edev_ders = f"PUT /edev/{inverter.pk}/der/0/ders: "  # its last report after walking the program
    done = epri_client.run(
        tools / "client_test", device, ca.cert, url, "inverter", "all", seconds=20, until=edev_ders
    )
    assert done.returncode is None, done.output[-3000:]  # still polling: it stops at a failed step
    assert not failures(done), (failures(done), done.output[-3000:])
    seen = {request.split(" ")[0] + " " + request.split(" ")[1].split("?")[0] for request, _ in done.statuses}
    edev = f"/edev/{inverter.pk}"
    assert {f"GET {edev}/rg", f"GET {edev}/fsa/0/derp", f"GET /derp/{inverter.pk}/derc"} <= seen
    for kind in ("dercap", "derg", "ders", "dera"):
        assert f"PUT {edev}/der/0/{kind}" in seen, kind
    reported = Sep2EndDevice.objects.get(der=inverter).reported_at
    assert set(reported) == {"dercap", "derg", "ders", "dera"}


def test_a_set_point_issued_during_its_poll_is_received_answered_and_superseded(
    tools: Path, pki: tuple[certs.CertFiles, Device], url: str, inverter: DER
) -> None:
    ca, device = pki
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        args = (tools / "client_test", device, ca.cert, url, "inverter", "poll", "2", "all")
        client = pool.submit(epri_client.run, *args, seconds=60, stop=stop)
        assert until(lambda: Sep2EndDevice.objects.filter(der=inverter).exists(), limit_s=15.0)
        first = _issue(inverter.pk, 2.0)
        assert until(lambda: Sep2Response.objects.filter(setpoint=first).exists(), limit_s=15.0), (
            "no response to the first"
        )
        second = _issue(inverter.pk, -1.5)
        assert until(lambda: Sep2Response.objects.filter(setpoint=second).exists(), limit_s=15.0), (
            "no response to the second"
        )
        assert until(lambda: Sep2Response.objects.filter(setpoint=first, status=7).exists(), limit_s=20.0), (
            "the first control was not answered as superseded"
        )
        stop.set()
        done = client.result()
    assert not failures(done), failures(done)
    statuses = {sp.pk: sp.status for sp in SetPoint.objects.filter(der=inverter)}
    assert statuses == {first.pk: "superseded", second.pk: "acknowledged"}


def _issue(der_id: int, q_kvar: float) -> SetPoint:
    return actions.do_issue_setpoint(None, "system", der_id, control_mode="active_reactive", q_kvar=q_kvar)


@pytest.mark.parametrize("command", ["time", "self", "metering", "alarm"])
def test_its_function_set_tests_pass(
    tools: Path, pki: tuple[certs.CertFiles, Device], url: str, inverter: DER, command: str
) -> None:
    ca, device = pki
    edev = f"/edev/{inverter.pk}"
    expected = {  # what each test does, seen succeeding; it is stopped once the last is seen
        "time": [("GET /tm", 200)],
        "self": [("GET /sdev", 200), ("GET /sdev/lel", 200)],
        "metering": [("POST /mup", 201), ("POST /mup/", 201)],
        "alarm": [(f"POST {edev}/lel", 201), (f"GET {edev}/lel/", 200)],
    }[command]
    request, status = expected[-1]
    last = rf"^{re.escape(request)}\d*: {status}$"
    args = (tools / "client_test", device, ca.cert, url, "inverter", command)
    done = epri_client.run(*args, seconds=20, until=last)
    assert done.returncode is None, done.output[-3000:]
    assert not failures(done), failures(done)
    for request, status in expected:
        assert any(r.startswith(request) and s == status for r, s in done.statuses), (request, done.statuses)


@pytest.fixture
def lan() -> Iterator[epri_client.Lan]:
    if os.geteuid() != 0:
        pytest.skip(
            "csip_test finds servers by multicast DNS only: its link (a network namespace) needs root"
        )
    with epri_client.lan() as made:
        yield made


@pytest.fixture
def discoverable(
    pki: tuple[certs.CertFiles, Device], lan: epri_client.Lan, transactional_db: None
) -> Iterator[ServerThread]:
    """The server on this host's end of the link, announced there by DNS-SD as `run_sep2_server
    --dnssd` announces it."""
    with serving(pki, lan.address) as thread:
        responder = start_dnssd(lan.interface, lan.address, thread.port)
        yield thread
        responder.stop()


def test_csip_test_finds_the_server_by_dns_sd_walks_the_program_and_follows_a_control(
    tools: Path,
    pki: tuple[certs.CertFiles, Device],
    lan: epri_client.Lan,
    discoverable: ServerThread,
    inverter: DER,
    tmp_path: Path,
) -> None:
    """csip_test is given only the interface: it asks for edev-<its sFDI> by multicast DNS, connects
    where the answer points, walks the CSIP resources, and schedules, starts and answers the control
    issued once it has walked them."""
    ca, device = pki
    # Its DefaultDERControl follows the IEEE 1547 category B volt-var curve: opModVoltVar links it.
    actions.do_set_default_mode(
        None, "system", inverter.pk, "volt_var", {"curve": [list(p) for p in VOLT_VAR_1547_B]}
    )
    workdir = epri_client.csip_workdir(device, ca.cert, tmp_path / "csip")
    edev, derp = f"/edev/{inverter.pk}", f"/derp/{inverter.pk}"
    block = r"^\s+\d+\s+\d+\s+\S"  # a control in its printed schedule ("Active Blocks:")
    walked, scheduled, stop = threading.Event(), threading.Event(), threading.Event()

    def progress(line: str) -> None:
        if line == f"GET {derp}/dc: 200":
            walked.set()
        if re.match(block, line):
            scheduled.set()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        args = (tools / "csip_test", workdir, lan)
        client = pool.submit(epri_client.run_csip, *args, seconds=90, stop=stop, progress=progress)
        assert walked.wait(30), "csip_test did not walk the DER program"
        control = _issue(inverter.pk, 2.0)
        # it sees the control at its next walk (it polls its FunctionSetAssignments every 10 s)
        started = until(lambda: Sep2Response.objects.filter(setpoint=control, status=2).exists(), limit_s=45)
        scheduled.wait(10)
        stop.set()
        done = client.result()
    assert done.returncode is None, done.output[-3000:]  # it exits on a failed step
    instance = f"CReST Control Room-edev-{device.sfdi:012d}._smartenergy._tcp.site"  # its own sFDI
    assert done.lines("name: CReST Control Room") == [f"  name: {instance}"], done.output
    [txt] = done.lines("txt: txtvers=1")
    assert f"dcap=/dcap, path={edev}, https={discoverable.port}" in txt
    assert not failures(done), (failures(done), done.output[-3000:])
    # its EndDevice comes in the EndDeviceList, each DERProgram in the FSA's DERProgramList
    walk = {"GET /dcap", "GET /tm", "GET /edev", f"GET {edev}/fsa", f"GET {edev}/fsa/0/derp"}
    walk |= {f"GET {derp}/dderc", f"GET {derp}/derc", f"GET {derp}/dc"}
    assert walk <= {request.split("?")[0] for request, _ in done.statuses}, done.statuses
    description = f"{control.get_source_display()} set point"
    assert done.lines(f'Event Start "{description}"'), done.output[-3000:]
    assert [line for line in done.lines(description) if re.match(block, line)], done.output[-3000:]
    assert started, "the server did not record the control as started"
    # It read the default's curve link and the curve, typed as 2013 types volt-var (0), without a fault.
    assert done.lines(f'<opModVoltVar href="{derp}/dc/1"/>') and done.lines("<curveType>0</curveType>")


def run_sep2_server(pki: tuple[certs.CertFiles, Device], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`manage.py run_sep2_server ARGS` as an operator runs it (one worker process, any free port),
    against the test database."""
    ca, _ = pki
    args = ("--cert", str(ca.cert.parent / "server.crt"), "--key", str(ca.cert.parent / "server.key"), *args)
    args = ("--ca", str(ca.cert), "--port", "0", "--workers", "1", *args)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    with log.open("wb") as out:
        command = [sys.executable, "manage.py", "run_sep2_server", *args]
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_run_sep2_server_with_dnssd_is_found_by_csip_test(
    tools: Path,
    pki: tuple[certs.CertFiles, Device],
    lan: epri_client.Lan,
    inverter: DER,
    tmp_path: Path,
) -> None:
    ca, device = pki
    log = tmp_path / "sep2.log"
    server = run_sep2_server(pki, log, "--dnssd", lan.interface, "--host", lan.address, "--poll-rate", "2")
    try:
        assert until(lambda: "/dcap" in log.read_text() or server.poll() is not None), log.read_text()
        port = re.findall(r"https://\S+:(\d+)/dcap", log.read_text())[0]
        workdir = epri_client.csip_workdir(device, ca.cert, tmp_path / "csip")
        walked = rf"^GET /edev/{inverter.pk}/fsa/0/derp: 200$"
        done = epri_client.run_csip(tools / "csip_test", workdir, lan, seconds=30, until=walked)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert done.lines(f"txt: txtvers=1, dcap=/dcap, path=/edev/{inverter.pk}, https={port}"), done.output
    assert done.lines(f"GET /edev/{inverter.pk}/fsa/0/derp: 200"), (done.output[-3000:], log.read_text())
    assert not failures(done), failures(done)


def test_run_sep2_server_refuses_an_interface_it_cannot_announce_on(
    pki: tuple[certs.CertFiles, Device], tmp_path: Path
) -> None:
    log = tmp_path / "sep2.log"
    server = run_sep2_server(pki, log, "--dnssd", "nonesuch0", "--host", "127.0.0.1")
    assert server.wait(60) != 0
    refused = "Cannot announce the server by DNS-SD on nonesuch0: There is no network interface"
    assert refused in log.read_text(), log.read_text()
