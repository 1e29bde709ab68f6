"""The load generator of benchmarks/_sep2_bench.py, run in processes of its own (never in the
server's): polling devices in one or more processes, the extra stream in another.

Open loop: every request has a moment it is DUE and its latency runs from then to the end of its
reply, so a server (or a generator) that falls behind is charged for the queue it builds, not only
for the requests it gets round to. A device's poll is due every pollRate from a random phase; within
a poll each request is due when the one before it was answered (it needs that answer). A device whose
previous poll is still running starts the next one late, and that lateness counts. The extra stream's
requests are due at fixed intervals (1/rate) and wait for a free connection if every one is busy.
Only requests due inside the measured window count; one still unanswered when the generator stops
is reported as unanswered."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from apps.der_registry.engine.sep2 import simulator
from apps.der_registry.engine.sep2.client import Sep2ClientError, Sep2Connection
from apps.der_registry.engine.sep2.mirror import meter_reading_list
from apps.der_registry.engine.sep2.model import RESPONSE_COMPLETED, RESPONSE_RECEIVED
from apps.der_registry.engine.sep2.server import client_context
from apps.der_registry.engine.sep2.xmlcodec import q

CCM8 = "ECDHE-ECDSA-AES128-CCM8"
REGISTERING_AT_ONCE = 100
EXTRA_PATHS = ("/derp/{}/derc?l=5", "/edev/{}", "/derp/{}/actderc", "/edev/{}/fsa/0/derp", "/tm")


@dataclass(frozen=True)
class Device:
    der_id: int
    cert: Path
    key: Path
    lfdi: str
    sfdi: int


@dataclass(frozen=True)
class Window:
    """Monotonic times (one clock for every process on the machine): polls are phased from
    `epoch_s`; requests due in [start_s, end_s) are measured; the generator stops at `stop_s`."""

    epoch_s: float
    start_s: float
    end_s: float
    stop_s: float


@dataclass
class Tally:
    """What happened to the requests due inside the window."""

    latency_s: list[float] = field(default_factory=list)  # due → answered
    # How late the generator itself woke for a request due at a set time (its own load, not the
    # server's: a request waiting for its poll's previous one or for a free connection is not here).
    lag_s: list[float] = field(default_factory=list)
    due: int = 0  # requests that came due (a poll's later requests once the earlier were answered)
    error_status: int = 0  # answered, with an error status
    failed: int = 0  # the connection failed instead of an answer
    done: int = 0  # answers that arrived inside the window, whenever they were due (the rate reached)

    def counts(self, w: Window, due_s: float) -> bool:
        return w.start_s <= due_s < w.end_s

    def answered(self, w: Window, due_s: float, sent_s: float, done_s: float, status: int) -> None:
        self.done += w.start_s <= done_s < w.end_s
        if self.counts(w, due_s):
            self.latency_s.append(done_s - due_s)
            self.error_status += status >= 400

    def result(self) -> dict[str, Any]:
        unanswered = self.due - len(self.latency_s) - self.failed
        return {
            "latency_s": self.latency_s,
            "lag_s": self.lag_s,
            "due": self.due,
            "errors": self.error_status + self.failed,
            "unanswered": unanswered,
            "done": self.done,
        }


async def _wake_at(due_s: float, tally: Tally, w: Window) -> None:
    """Sleep until `due_s`; note how late the event loop woke, when it was not already late."""
    ahead_s = due_s - time.monotonic()
    if ahead_s > 0:
        await asyncio.sleep(ahead_s)
        if tally.counts(w, due_s):
            tally.lag_s.append(time.monotonic() - due_s)


async def _timed(conn: Sep2Connection, method: str, path: str, body: Any = None) -> tuple[float, Any]:
    """(the moment the request was written, the answer); the connection's own clock is not used."""
    sent_s = time.monotonic()
    if method == "GET":
        return sent_s, await conn.get(path)
    if method == "PUT":
        return sent_s, await conn.put(path, body)
    return sent_s, await conn.post(path, body)


async def _poll(
    conn: Sep2Connection, dev: simulator.DeviceState, due_s: float, tally: Tally, w: Window
) -> None:
    """One poll as a device makes it (FSA → program list → controls, answers, status, readings)."""
    steps: list[tuple[str, str, Any]] = [("GET", f"{dev.edev}/fsa/0", None)]
    while steps:
        method, path, body = steps.pop(0)
        tally.due += tally.counts(w, due_s)
        try:
            sent_s, answer = await _timed(conn, method, path, body)
        except (Sep2ClientError, ConnectionError, OSError):
            tally.failed += tally.counts(w, due_s)
            raise
        done_s = time.monotonic()
        tally.answered(w, due_s, sent_s, done_s, answer.status)
        due_s = done_s  # the next request needs this answer: it is due now
        steps += _next(dev, path, answer)


def _href(doc: Any, tag: str) -> str:
    link = None if doc is None else doc.find(q(tag))
    if link is None:
        raise Sep2ClientError(f"the answer has no {tag}")
    return str(link.attrib["href"])


def _next(dev: simulator.DeviceState, path: str, answer: Any) -> list[tuple[str, str, Any]]:
    """What a device asks after `path` was answered."""
    if path.endswith("/fsa/0"):
        return [("GET", _href(answer.doc(), "DERProgramListLink"), None)]
    if "/fsa/0/derp" in path:
        program = answer.doc().find(q("DERProgram"))
        return [("GET", f"{_href(program, 'DERControlListLink')}?l=8", None)]
    if "/derc" not in path:
        return []
    out: list[tuple[str, str, Any]] = []
    for control in answer.doc().findall(q("DERControl")):
        subject = control.findtext(q("mRID")) or ""
        status = int(control.findtext(f"{q('EventStatus')}/{q('currentStatus')}") or 0)
        if status == 1 and subject != dev.active:
            dev.active = subject
            for code in (RESPONSE_RECEIVED, RESPONSE_COMPLETED):
                out.append(("POST", "/rsps/0/rsp", simulator.response_doc(dev.lfdi, subject, code)))
    readings = simulator.meter_readings(dev.lfdi, simulator.sim_measurements(dev, random.Random()), False)
    out.append(("PUT", f"{dev.edev}/der/0/ders", simulator.der_status_doc()))
    out.append(("POST", dev.mirror, meter_reading_list(readings)))
    return out


async def _registered(url: str, ca: Path, device: Device, gate: asyncio.Semaphore) -> tuple[Any, Any]:
    sim = simulator.SimClient(device.cert, device.key, device.lfdi, device.sfdi)
    async with gate:
        conn = Sep2Connection(url, client_context(device.cert, device.key, ca, CCM8))
        states, _ = await simulator.register(conn, sim, simulator.SimStats())
    return conn, states[0]


async def _device(conn: Sep2Connection, dev: Any, poll_s: float, w: Window, tally: Tally) -> None:
    phase_s = random.uniform(0, poll_s)
    k = 0
    while (due_s := w.epoch_s + phase_s + k * poll_s) < w.end_s:
        await _wake_at(due_s, tally, w)
        try:
            await _poll(conn, dev, due_s, tally, w)
        except (Sep2ClientError, ConnectionError, OSError):
            await conn.close()  # the next poll reconnects
        k += 1


def pollers(url: str, ca: Path, devices: list[Device], poll_s: float, pipe: Connection) -> None:
    """Register every device (reporting how many and how long), wait for the window, poll."""

    async def main() -> None:
        t0 = time.monotonic()
        gate = asyncio.Semaphore(REGISTERING_AT_ONCE)
        made = await asyncio.gather(*(_registered(url, ca, d, gate) for d in devices), return_exceptions=True)
        ready = [m for m in made if isinstance(m, tuple)]
        refused = [repr(m)[:300] for m in made if isinstance(m, BaseException)]
        pipe.send({"registered": len(ready), "registration_s": time.monotonic() - t0, "refused": refused})
        window: Window = await asyncio.to_thread(pipe.recv)
        tally = Tally()
        runs = [asyncio.create_task(_device(c, d, poll_s, window, tally)) for c, d in ready]
        if runs:
            await asyncio.wait(runs, timeout=max(0.0, window.stop_s - time.monotonic()))
        for r in runs:
            r.cancel()
        pipe.send(tally.result())

    asyncio.run(main())


def stream(url: str, ca: Path, devices: list[Device], rps: float, pipe: Connection) -> None:
    """The extra requests: one due every 1/rps s over the window, on these devices' connections."""

    async def main() -> None:
        free: asyncio.Queue[tuple[int, Sep2Connection]] = asyncio.Queue()
        for d in devices:
            conn = await Sep2Connection(url, client_context(d.cert, d.key, ca, CCM8)).open()
            free.put_nowait((d.der_id, conn))
        pipe.send({"registered": len(devices), "registration_s": 0.0, "refused": []})
        w: Window = await asyncio.to_thread(pipe.recv)
        tally, rng, tasks = Tally(), random.Random(7), []

        async def one(due_s: float, path: str) -> None:
            der_id, conn = await free.get()
            try:
                sent_s, answer = await _timed(conn, "GET", path.format(der_id))
                tally.answered(w, due_s, sent_s, time.monotonic(), answer.status)
            except (Sep2ClientError, ConnectionError, OSError):
                tally.failed += 1
                await conn.close()  # reopened by its next request
            free.put_nowait((der_id, conn))

        n = 0
        while (due_s := w.start_s + n / rps) < w.end_s:
            await _wake_at(due_s, tally, w)
            tally.due += 1
            tasks.append(asyncio.create_task(one(due_s, rng.choice(EXTRA_PATHS))))
            n += 1
        _, pending = (
            await asyncio.wait(tasks, timeout=max(0.0, w.stop_s - time.monotonic())) if tasks else ((), ())
        )
        for task in pending:
            task.cancel()
        pipe.send(tally.result())

    asyncio.run(main())
