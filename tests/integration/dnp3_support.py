"""Shared set-up for the DNP3 integration tests: free ports, waiting on a condition, junk bytes."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable

from apps.dms.engine.dnp3.simulator import free_port_block


def ports(n: int) -> int:
    """Free loopback ports below the ephemeral range; each test process starts its search elsewhere."""
    return free_port_block(n, start=20000 + (os.getpid() % 100) * 100)


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
