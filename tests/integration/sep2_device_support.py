"""The plant's simulated 2030.5 device on loopback, for tests that watch what a device does with
its programs: a 10 kW PV inverter (±4.84 kvar) behind `PlantSep2Grid`, whose every command the
test sees in `held`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from apps.der_registry.engine.sep2.simulator import SimClient, SimStats, run_client
from apps.dms.engine.dnp3.points import DERLimits
from apps.plant.engine.feeder import DerCommand, PlantDER
from apps.plant.engine.field import PlantSep2Grid

PV_LIMITS = DERLimits(p_max_kw=10.0, q_inj_max_kvar=4.84, q_abs_max_kvar=4.84, s_max_kva=11.0)


def plant_field(lfdi: str) -> tuple[PlantSep2Grid, list[DerCommand]]:
    """The plant behind one device, and the commands it was given, oldest first."""
    held: list[DerCommand] = []
    field = PlantSep2Grid({lfdi: PlantDER("pv", "675", (1,), 10.0, PV_LIMITS)}, lambda _n, c: held.append(c))
    return field, held


@contextlib.contextmanager
def plant_device(server: str, who: Any, field: PlantSep2Grid) -> Iterator[SimStats]:
    """The device of `who` (a test PKI), polling every 0.2 s until the block ends (switched off)."""
    sim = SimClient(who.device.cert, who.device.key, who.device.lfdi, who.device.sfdi)
    stats, loop = SimStats(), asyncio.new_event_loop()
    polling = loop.create_task(run_client(server, who.ca.cert, sim, 60.0, stats, poll_s=0.2, grid=field))

    def power_on() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(polling)
        loop.close()

    device = threading.Thread(target=power_on, daemon=True)
    device.start()
    try:
        yield stats
    finally:
        loop.call_soon_threadsafe(polling.cancel)
        device.join(10)


def follows(
    held: list[DerCommand], expected: Callable[[DerCommand], bool], limit_s: float = 10.0
) -> DerCommand:
    """The device's last command, once it is what the test expects (a guard, not a timing)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not (held and expected(held[-1])):
        time.sleep(0.1)
    assert held and expected(held[-1]), held[-1:]
    return held[-1]
