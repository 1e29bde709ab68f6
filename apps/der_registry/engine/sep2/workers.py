"""Worker processes that answer 2030.5 on one port, kept running by the process that started them.

Each worker is a fresh interpreter (multiprocessing's "spawn"), not a fork: it opens its own database
connections, Redis pools and threads, so none is shared with the parent or another worker. Each
worker slot owns one listening socket; on Linux every slot's socket is bound to the same port with
SO_REUSEPORT and the kernel spreads new connections over them evenly (a single shared socket would
let one worker's accept loop take a burst of connections and keep them, as 2030.5 clients hold
theirs open). The parent keeps every slot's socket open: when a worker dies, the connections the
kernel queues for its slot wait for the replacement instead of being refused."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

log = logging.getLogger("crest.sep2")

LISTEN_BACKLOG = 1024  # a fleet reconnecting at once (after a restart) must not overflow the queue
RESTART_MIN_S = 1.0  # a worker that died is replaced after this long, doubling while it keeps dying
RESTART_MAX_S = 30.0
STABLE_S = 60.0  # a worker that ran this long before it died died of something new: back to the minimum
WATCH_S = 0.5  # how often the parent looks at its stop flag between worker exits


def default_workers() -> int:
    """One worker per CPU this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _socket(family: socket.AddressFamily, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def listen_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on host:port (port 0: one the system picks), one per worker slot.
    Where the kernel cannot balance SO_REUSEPORT sockets (not Linux), the slots share one socket.
    OSError when the address is taken — also by a server already running there: SO_REUSEPORT
    alone would let a second server share the port silently and split the devices between them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _socket(family, reuse_port=False) as probe:  # fails while anything listens there
        probe.bind((host, port))
        port = probe.getsockname()[1]
    reuse_port = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT") and count > 1
    made: list[socket.socket] = []
    try:
        for _ in range(count if reuse_port else 1):
            sock = _socket(family, reuse_port)
            made.append(sock)
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made if reuse_port else made * count


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    started_s: float = 0.0
    due_s: float = 0.0  # when a replacement may start
    delay_s: float = RESTART_MIN_S


class WorkerPool:
    """`count` processes running `target(*args(slot))`, each replaced when it exits until stop().
    `target` must be importable by name (a module-level function): a spawned child imports it."""

    def __init__(
        self,
        target: Callable[..., None],
        args: Callable[[int], tuple[object, ...]],
        count: int,
        name: str = "sep2-worker",
    ) -> None:
        self.target, self.args, self.name = target, args, name
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(count)]
        self._lock = threading.Lock()

    def start(self) -> WorkerPool:
        for slot in self._slots:
            self._spawn(slot)
        return self

    def pids(self) -> list[int]:
        """The running workers' process ids, by slot (0 for a slot waiting for its replacement)."""
        with self._lock:
            return [(s.process.pid or 0) if s.process is not None else 0 for s in self._slots]

    def _spawn(self, slot: _Slot) -> None:
        proc = self._ctx.Process(
            target=self.target, args=self.args(slot.index), name=f"{self.name}-{slot.index + 1}"
        )
        proc.start()
        with self._lock:
            slot.process, slot.started_s = proc, time.monotonic()
        log.info("2030.5 worker %d started (pid %d)", slot.index + 1, proc.pid)

    def _reap(self, slot: _Slot, now_s: float) -> None:
        proc = slot.process
        if proc is None or proc.is_alive():
            return
        proc.join()
        ran_s = now_s - slot.started_s
        slot.delay_s = RESTART_MIN_S if ran_s > STABLE_S else min(RESTART_MAX_S, 2 * slot.delay_s)
        slot.due_s = now_s + slot.delay_s
        with self._lock:
            slot.process = None
        log.warning(
            "2030.5 worker %d (pid %d) exited with code %s after %.0f s; a new one starts in %.0f s "
            "(its connections reconnect; the other workers go on answering)",
            slot.index + 1, proc.pid, proc.exitcode, ran_s, slot.delay_s,
        )  # fmt: skip

    def watch(self, stop: threading.Event) -> None:
        """Replace workers that exit, until `stop` is set (from a signal handler or another thread)."""
        while not stop.is_set():
            sentinels = [s.process.sentinel for s in self._slots if s.process is not None]
            multiprocessing.connection.wait(sentinels, timeout=WATCH_S)
            now_s = time.monotonic()
            for slot in self._slots:
                self._reap(slot, now_s)
                if slot.process is None and now_s >= slot.due_s and not stop.is_set():
                    self._spawn(slot)

    def stop(self, grace_s: float = 10.0) -> None:
        """Ask every worker to finish (SIGTERM: it stops accepting and answers what it holds), then
        end the ones still running after `grace_s`."""
        running = [s.process for s in self._slots if s.process is not None]
        for proc in running:
            with contextlib.suppress(OSError):
                proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in running:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
