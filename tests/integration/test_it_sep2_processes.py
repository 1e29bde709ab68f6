"""`run_sep2_server --workers 2` as an operator runs it, a real process against the test database:
both worker processes answer over TLS, a set point issued while devices poll reaches every poller
whichever worker answers it, a subscriber is notified once (not once per worker), the devices'
communication is supervised from what every worker heard, a killed worker is replaced while the
other goes on answering, and stopping (or losing) the server ends its workers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from apps.alarms.models import Alarm
from apps.der_registry.engine.sep2.client import Sep2Connection
from apps.der_registry.engine.sep2.http import Reply, read_request, render
from apps.der_registry.engine.sep2.resources import KIND_CONTROL, mrid
from apps.der_registry.engine.sep2.server import server_context
from apps.der_registry.engine.sep2.simulator import der_status_doc
from apps.der_registry.engine.sep2.xmlcodec import q, schema_problem
from crest_web.env import database_url_with_name
from tests.integration.dnp3_support import until
from tests.integration.test_it_sep2_server import Pki, connect, issue, subscription_doc, valid_get
from tests.integration.test_it_sep2_server import pki as server_pki

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
pki = server_pki  # the 2030.5 server tests' certificates (a module fixture)


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> dict[int, int]:
        """Worker slot → pid of the worker started last in that slot."""
        found = re.findall(r"2030\.5 worker (\d+) started \(pid (\d+)\)", self.text())
        return {int(slot): int(pid) for slot, pid in found}

    def answering(self) -> int:
        return len(re.findall(r"sep2-worker-\d+ answering", self.text()))


@pytest.fixture
def served(pki: Pki, transactional_db: None, tmp_path: Path) -> Iterator[Served]:
    folder, log = pki.ca.cert.parent, tmp_path / "sep2.log"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url_with_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    args = ["--host", "127.0.0.1", "--port", "0", "--workers", "2", "--threads", "4", "--poll-rate", "1"]
    args += ["--cert", str(folder / "server.crt"), "--key", str(folder / "server.key")]
    args += ["--ca", str(pki.ca.cert), "--notify-period", "0.2"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_sep2_server", *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    assert until(lambda: "/dcap" in log.read_text() or proc.poll() is not None), log.read_text()
    port = int(re.findall(r"https://127\.0\.0\.1:(\d+)/dcap", log.read_text())[0])
    server = Served(f"https://127.0.0.1:{port}", port, proc, log)
    assert until(lambda: server.answering() == 2, limit_s=60), server.text()
    yield server
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def alive(pid: int) -> bool:
    """The process exists and has not ended (a zombie waiting for its parent has)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def serving_pid(conn: Sep2Connection, server_port: int, pids: list[int]) -> int:
    """Which process holds the server's end of this client connection (from /proc, no help from
    the server)."""
    assert conn.writer is not None
    client_port = conn.writer.get_extra_info("sockname")[1]
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == server_port and int(remote[1], 16) == client_port:
            inode = fields[9]
    for pid in filter(alive, pids):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:  # closed while we looked
                continue
    return 0


def answers_from(served: Served, pki: Pki, der_id: int, connections: int) -> tuple[set[int], list[int]]:
    """Open `connections` TLS connections as the device, two schema-valid GETs on each; which
    worker held each connection, and the statuses."""
    pids = list(served.workers().values())

    async def session() -> tuple[set[int], list[int]]:
        holders, statuses = set(), []
        for _ in range(connections):
            conn = await connect(served.url, pki.ca, pki.device).open()
            statuses.append((await valid_get(conn, "/dcap")).status)
            statuses.append((await valid_get(conn, f"/derp/{der_id}/derc?l=5")).status)
            holders.add(serving_pid(conn, served.port, pids))
            await conn.close()
        return holders, statuses

    return asyncio.run(session())


def test_it_answers_over_tls_from_both_worker_processes(
    served: Served, pki: Pki, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    issue(der.pk, q_kvar=1.5)
    holders, statuses = answers_from(served, pki, der.pk, connections=24)
    assert holders == set(served.workers().values()) and len(holders) == 2
    assert set(statuses) == {200}


@dataclass
class Poller:
    """A device's poller that connects afresh for every poll, so the kernel hands its polls to
    either worker, until its program's active control is no longer `old`."""

    served: Served
    pki: Pki
    der_id: int
    old: str
    pids: list[int]
    holders: set[int] = field(default_factory=set)
    polls: int = 0
    active: str = ""

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conn = await connect(self.served.url, self.pki.ca, self.pki.device).open()
            listing = (await conn.get(f"/derp/{self.der_id}/actderc")).doc()
            self.holders.add(serving_pid(conn, self.served.port, self.pids))
            await conn.close()
            self.polls += 1
            self.active = listing.findtext(f"{q('DERControl')}/{q('mRID')}") or ""
            if self.active != self.old:
                return
            await asyncio.sleep(0.1)


def test_it_every_poller_sees_a_set_point_issued_while_they_poll(
    served: Served, pki: Pki, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    old = mrid(KIND_CONTROL, issue(der.pk, q_kvar=1.0).pk)
    pids = list(served.workers().values())
    pollers = [Poller(served, pki, der.pk, old, pids) for _ in range(6)]
    threads = [threading.Thread(target=p.run) for p in pollers]
    for thread in threads:
        thread.start()
    assert until(lambda: all(p.polls >= 3 for p in pollers))
    new = mrid(KIND_CONTROL, issue(der.pk, q_kvar=-2.0).pk)  # while they poll
    for thread in threads:
        thread.join(90)
    assert [p.active for p in pollers] == [new] * 6
    assert set().union(*(p.holders for p in pollers)) == set(pids)  # both workers answered polls


def test_it_notifies_a_subscriber_once_whichever_worker_took_the_subscription(
    served: Served, pki: Pki, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    folder = pki.ca.cert.parent
    receiver_ctx = server_context(folder / "server.crt", folder / "server.key", pki.ca.cert)

    async def session() -> tuple[int, list[int], list[bytes]]:
        received: list[bytes] = []

        async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            req = await read_request(reader)
            writer.write(render(Reply(204), keep_alive=False))
            await writer.drain()
            writer.close()
            if req is not None:
                received.append(req.body)

        endpoint = await asyncio.start_server(receive, "127.0.0.1", 0, ssl=receiver_ctx)
        uri = f"https://127.0.0.1:{endpoint.sockets[0].getsockname()[1]}/notify"
        conn = connect(served.url, pki.ca, pki.device)
        made = await conn.post(f"/edev/{der.pk}/sub", subscription_doc(f"/derp/{der.pk}/derc", uri))
        await conn.close()
        listed = []
        for _ in range(8):  # the subscription as every worker serves it
            conn = connect(served.url, pki.ca, pki.device)
            listing = (await valid_get(conn, f"/edev/{der.pk}/sub?l=5")).doc()
            listed.append(len(listing.findall(q("Subscription"))))
            await conn.close()
        await asyncio.sleep(1.0)  # the notifier has looked: only set points issued from now on count
        await asyncio.to_thread(issue, der.pk, 1.2)
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # ten notifier periods: a second notifier would have sent by now
        endpoint.close()
        return made.status, listed, received

    status, listed, received = asyncio.run(session())
    assert status == 201 and listed == [1] * 8
    assert len(received) == 1
    assert schema_problem(received[0]) == "" and b"<Notification" in received[0]


def test_it_supervises_a_device_from_what_every_worker_heard(
    served: Served, pki: Pki, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active", name="roof-pv", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    alarms = Alarm.objects.filter(kind="comm_failure", source_id=str(der.pk))

    async def report_then_poll(polls: int) -> None:
        conn = connect(served.url, pki.ca, pki.device)
        assert (await conn.put(f"/edev/{der.pk}/der/0/ders", der_status_doc())).status == 204
        await conn.close()
        for _ in range(polls):  # a fresh connection each time: both workers hear the device
            conn = connect(served.url, pki.ca, pki.device)
            await valid_get(conn, "/tm")
            await conn.close()
            await asyncio.sleep(0.25)

    # pollRate 1 s: silent for 3 s is an alarm. 6 s of polls only the workers heard: no alarm.
    asyncio.run(report_then_poll(24))
    assert not alarms.exists()
    assert until(alarms.exists, limit_s=30)  # then silence: the alarm comes
    assert "roof-pv (IEEE 2030.5) has not polled or posted" in alarms.get().message


def test_it_replaces_a_killed_worker_while_the_other_answers(
    served: Served, pki: Pki, enrolled: Callable[..., Any]
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    before = served.workers()
    os.kill(before[1], signal.SIGKILL)
    assert until(lambda: not alive(before[1]))
    _, statuses = answers_from(served, pki, der.pk, connections=6)  # meanwhile: still answered
    assert set(statuses) == {200}
    assert until(lambda: served.workers()[1] != before[1] and served.answering() == 3, limit_s=60)
    after = served.workers()
    assert after[2] == before[2] and alive(after[1])
    holders, statuses = answers_from(served, pki, der.pk, connections=24)
    assert holders == set(after.values()) and set(statuses) == {200}
    assert served.proc.poll() is None


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "lost"])
def test_it_ends_its_workers_when_stopped_or_lost(served: Served, how: signal.Signals) -> None:
    workers = list(served.workers().values())
    served.proc.send_signal(how)  # SIGKILL: the server lost, not asked; its workers must not linger
    code = served.proc.wait(30)
    assert until(lambda: not any(alive(pid) for pid in workers))
    assert code == (0 if how == signal.SIGTERM else -signal.SIGKILL)
    assert "Stopped." in served.text() or how == signal.SIGKILL
