"""Shared set-up for the DNP3 integration tests: free ports, waiting on a condition, junk bytes."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable

from apps.dms.engine.dnp3.simulator import RELAY_OFFSET, free_port_block

WORKER_SPAN = 1500  # ports each pytest-xdist worker searches first; no test takes more than ~100


def ports(n: int) -> int:
    """n consecutive free loopback ports, also free RELAY_OFFSET above (where an outstation behind a
    tier relay listens). Each xdist worker searches its own span, and every port and its relay port
    stay below the ephemeral range (32768…), where free_port() and outgoing connections (Redis,
    the gateway's sockets) take theirs: a pid-based start once put a relay port there and another
    worker took it between the search and the bind."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    return free_port_block(n, start=10000 + (worker % 6) * WORKER_SPAN, offsets=(0, RELAY_OFFSET))


def until(
    condition: Callable[[], bool], step: Callable[[], None] | None = None, limit_s: float = 30.0
) -> bool:
    """Run `step` until `condition` holds or the limit passes (a guard against hanging, not a timing)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if step is not None:
            step()
        else:
            time.sleep(0.05)
        if condition():
            return True
    return condition()


def send_junk(port: int) -> None:
    """Garbage on a DNP3 port, each kind on its own connection: random bytes, fake frame headers
    with bad CRCs, HTTP. The server may hang up on us mid-way; that is its right."""
    junk = [
        os.urandom(2048),
        bytes([0x05, 0x64, 0xFF, 0xC4, 0x0A, 0x00, 0x01, 0x00, 0xDE, 0xAD]) * 50,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 10,
    ]
    for payload in junk:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s, contextlib.suppress(OSError):
            s.sendall(payload)
            time.sleep(0.1)
