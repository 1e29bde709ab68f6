"""A field of simulated DER outstations: N inverters on loopback, each at its own port (or several
per port at distinct link addresses), optionally behind an emulated network tier."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from apps.dms.engine.dnp3.der_maps import DER_MAPS
from apps.dms.engine.dnp3.inverter import SimulatedInverter
from apps.dms.engine.dnp3.netem import TIERS, Tier, TierRelay
from apps.dms.engine.dnp3.outstation import Outstation, OutstationChannel
from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.dnp3.stack import TlsFiles
from apps.standards.dnp3_profile import DEFAULT_POINT_MAP

RELAY_OFFSET = 10000  # an outstation behind a tier listens here above its public port


def free_port_block(n: int, start: int = 20000, offsets: tuple[int, ...] = (0,)) -> int:
    """The first of n consecutive loopback ports nobody listens on now (also at base + each offset,
    e.g. RELAY_OFFSET for outstations behind a tier relay)."""
    base = start
    while base + n + max(offsets) < 65536:
        taken = next((i for i in range(n) if not all(_free(base + i + o) for o in offsets)), None)
        if taken is None:
            return base
        base += taken + 1
    raise OSError(f"no block of {n} free ports above {start}")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class SimDER:
    """Where one simulated DER answers: public port and link address, and its ratings."""

    port: int
    address: int
    limits: DERLimits
    available_kw: float
    tier: str = ""
    point_map: str = DEFAULT_POINT_MAP  # the registry's name of the map it serves (der_maps.DER_MAPS)


@dataclass
class Running:
    spec: SimDER
    inverter: SimulatedInverter
    outstation: Outstation
    channel: OutstationChannel


class FieldSim:
    def __init__(
        self, ders: list[SimDER], tls: TlsFiles | None = None, tiers: dict[str, Tier] | None = None
    ) -> None:
        self.specs, self.tls = ders, tls
        self.tiers = tiers or TIERS
        self.running: dict[tuple[int, int], Running] = {}
        self.channels: dict[int, OutstationChannel] = {}
        self.relays: list[TierRelay] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, update_s: float = 1.0) -> None:
        by_tier: dict[str, list[tuple[int, int]]] = {}
        for spec in self.specs:
            listen = spec.port + RELAY_OFFSET if spec.tier else spec.port
            if spec.tier:
                by_tier.setdefault(spec.tier, [])
                if (spec.port, listen) not in by_tier[spec.tier]:
                    by_tier[spec.tier].append((spec.port, listen))
            channel = self.channels.get(listen) or OutstationChannel(listen, tls=self.tls)
            self.channels[listen] = channel
            self._serve(spec, channel)
        for name, pairs in by_tier.items():
            relay = TierRelay(self.tiers[name], pairs)
            relay.start()
            self.relays.append(relay)
        self._thread = threading.Thread(target=self._report, args=(update_s,), daemon=True, name="field-sim")
        self._thread.start()

    def _report(self, update_s: float) -> None:
        while not self._stop.wait(update_s):
            self.publish()

    def publish(self) -> None:
        """Every inverter's present measurements into its outstation (changes become events)."""
        for run in list(self.running.values()):
            run.outstation.update(run.inverter.measure())

    def stop_port(self, port: int) -> None:
        """A scripted outage of one device: its server port goes away."""
        listen = port + RELAY_OFFSET if any(s.tier and s.port == port for s in self.specs) else port
        channel = self.channels.pop(listen, None)
        if channel is not None:
            channel.close()
            for key in [k for k, r in self.running.items() if r.channel is channel]:
                del self.running[key]

    def restart_port(self, port: int) -> None:
        specs = [s for s in self.specs if s.port == port]
        listen = port + RELAY_OFFSET if any(s.tier for s in specs) else port
        channel = OutstationChannel(listen, tls=self.tls)
        self.channels[listen] = channel
        for spec in specs:
            self._serve(spec, channel)

    def _serve(self, spec: SimDER, channel: OutstationChannel) -> None:
        """One simulated inverter behind an outstation of its map on the channel."""
        point_map = DER_MAPS[spec.point_map]
        inverter = SimulatedInverter(spec.limits, spec.available_kw, seed=spec.address, point_map=point_map)
        station = channel.add(spec.address, point_map.points, inverter.command)
        station.update(inverter.measure())
        self.running[(spec.port, spec.address)] = Running(spec, inverter, station, channel)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for relay in self.relays:
            relay.stop()
        for channel in self.channels.values():
            channel.close()
        self.channels.clear()
        self.running.clear()
