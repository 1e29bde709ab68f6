"""Network tiers emulated by a TCP relay in front of an outstation: latency, jitter, loss and
scripted outages (DESIGN.md §2, seed 000 Table 1). A lost segment costs a TCP retransmission
timeout, as it would on a real link. An outage swallows every byte both ways without resetting the
connection — what a dead radio segment looks like — so the master sees silence, not a refusal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tier:
    name: str
    latency_s: float
    jitter_s: float
    loss: float
    outages: tuple[tuple[float, float], ...] = field(default=())  # (start_s, duration_s) from sim start


RTO_S = 1.0  # the TCP retransmission timeout a lost segment costs

TIERS = {
    "lan": Tier("lan", 0.005, 0.003, 0.0),  # secured LAN < 10 ms
    "wan": Tier("wan", 0.030, 0.015, 0.001),  # WAN < 50 ms
    "fan": Tier("fan", 0.300, 0.200, 0.01),  # field area network < 1 s
    "nan": Tier("nan", 5.0, 4.0, 0.05),  # neighbourhood area network < 30 s, medium availability
}


class TierRelay:
    """Relays listen_port → target_port on loopback through an emulated tier (own asyncio thread)."""

    def __init__(self, tier: Tier, pairs: list[tuple[int, int]], seed: int = 0) -> None:
        self.tier, self.pairs = tier, pairs
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=f"tier-{tier.name}")
        self._start = time.monotonic()
        self._servers: list[asyncio.AbstractServer] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut = False  # an outage held from outside (a trainer's scenario) until set back

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    def in_outage(self) -> bool:
        if self.cut:
            return True
        t = time.monotonic() - self._start
        return any(start <= t < start + dur for start, dur in self.tier.outages)

    async def _serve(self) -> None:
        for listen, target in self.pairs:
            server = await asyncio.start_server(
                functools.partial(self._relay, target=target), "127.0.0.1", listen
            )
            self._servers.append(server)

    def _delay(self) -> float:
        d = max(0.0, self.tier.latency_s + self._rng.uniform(-self.tier.jitter_s, self.tier.jitter_s))
        return d + (RTO_S if self._rng.random() < self.tier.loss else 0.0)

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, target: int
    ) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_w}
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer), return_exceptions=True)
        self._writers -= {writer, up_w}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                if self.in_outage():
                    continue
                await asyncio.sleep(self._delay())
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):  # every pipe then ends on end-of-file, no task is cancelled
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
