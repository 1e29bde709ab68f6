"""The running plant: it steps the grid on its clock and serves it over the real protocols — a DNP3
outstation per DER that has one (several per port at distinct addresses), a DNP3 RTU outstation per
feeder, and IEEE 2030.5 clients whose devices read from and act on the plant. Every step's true state
is appended to a JSON-lines file, so what happened can be set beside what the control room saw."""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.dms.engine.dnp3.der_maps import DER_MAPS
from apps.dms.engine.dnp3.netem import TIERS, Tier, TierRelay
from apps.dms.engine.dnp3.outstation import Outstation, OutstationChannel
from apps.dms.engine.dnp3.points import SUBSTATION_RTU, CommandRefused, Point
from apps.dms.engine.dnp3.simulator import RELAY_OFFSET
from apps.ems.engine.case import branch_names
from apps.plant.engine.clock import STEP_S, PlantClock
from apps.plant.engine.feeder import DerCommand, FeederPlant
from apps.plant.engine.field import PlantInverter, PlantSep2Grid, rtu_values
from apps.plant.engine.layout import Endpoint, Layout
from apps.plant.engine.plant import Plant, Truth
from apps.plant.engine.scenarios import Book, Known, Scenario, ScenarioError, parse
from apps.plant.engine.transmission import DsoTie, TransmissionPlant


@dataclass(frozen=True)
class Sep2Clients:
    """The 2030.5 clients to run (as `run_field_sim --sep2`): direct devices and aggregated ones."""

    count: int
    aggregated: int
    base_url: str
    cert_dir: Path
    poll_s: float | None = None


def build_plant(layout: Layout) -> Plant:
    feeders = {
        name: FeederPlant(spec.net, [d.der for d in layout.ders if d.feeder == name], spec.commercial_share)
        for name, spec in layout.feeders.items()
    }
    ties = {n: DsoTie(s.tie_bus, s.feeder_count) for n, s in layout.feeders.items() if s.tie_bus is not None}
    transmission = TransmissionPlant(layout.case, ties) if ties else None
    plant = Plant(feeders, transmission, {n: n for n in ties})
    for name, spec in layout.feeders.items():
        plant.weather[name].sky = spec.sky
    return plant


class PlantServer:
    def __init__(
        self,
        layout: Layout,
        clock: PlantClock,
        step_s: float = STEP_S,
        truth_path: Path | None = None,
        truth_every: int = 1,
        links: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        """`links`: EMS–DMS links the plant relays, by DSO name: (port the EMS dials, the DMS's port)."""
        if not step_s > 0:
            raise ValueError(f"a plant step is a positive number of simulated seconds, not {step_s!r}")
        self.layout, self.clock, self.step_s, self.truth_path = layout, clock, step_s, truth_path
        self.truth_every, self.steps = max(int(truth_every), 1), 0
        self.plant = build_plant(layout)
        self.feeder_of = {d.der.name: d.feeder for d in layout.ders}
        self.inverters = {
            d.der.name: PlantInverter(d.der, self.apply, DER_MAPS[d.dnp3_map]) for d in layout.ders if d.dnp3
        }
        self.sep2_lfdi = {d.lfdi: d.der.name for d in layout.ders if d.lfdi}
        self.lfdi_of = {name: lfdi for lfdi, name in self.sep2_lfdi.items()}
        self.sep2 = PlantSep2Grid({d.lfdi: d.der for d in layout.ders if d.lfdi}, self.apply)
        self.sep2_tier = {d.lfdi: d.tier for d in layout.ders if d.lfdi and d.tier}
        self.channels: dict[int, OutstationChannel] = {}
        self.der_stations: dict[str, Outstation] = {}
        self.rtus: dict[str, Outstation] = {}
        self.last: Truth | None = None
        self.book = Book()
        self.links = links or {}
        self.relays: dict[str, TierRelay] = {}  # "tier:NAME" for DER segments, "link:NAME" for links
        self._tripped: set[str] = set()
        self._sep2_handle: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def apply(self, der: str, command: DerCommand) -> None:
        """A set point a device accepted reaches the plant (at its next step)."""
        self.plant.feeders[self.feeder_of[der]].command(der, command)

    def rtu_command(self, feeder: str, point: Point, value: float) -> float:
        """Outstation callback of a feeder's RTU: the tap changer's voltage set point, in force from
        the next step; the value in force."""
        if point.name != "v_set_pu":
            raise CommandRefused(f"{point.name} cannot be commanded")
        with self._lock:
            try:
                return self.plant.set_voltage(feeder, value)
            except ValueError as exc:
                raise CommandRefused(str(exc)) from exc

    def _channel(self, endpoint: Endpoint) -> OutstationChannel:
        channel = self.channels.get(endpoint.port)
        if channel is None:
            channel = self.channels[endpoint.port] = OutstationChannel(endpoint.port)
        return channel

    def start(self, sep2: Sep2Clients | None = None) -> None:
        self.step()  # the first state before anyone connects: nothing reads zeros
        behind: dict[str, set[tuple[int, int]]] = {}
        for spec in self.layout.ders:
            if spec.dnp3 is not None:
                inverter = self.inverters[spec.der.name]
                where = spec.dnp3
                if spec.tier:  # the outstation listens behind its tier's relay
                    where = Endpoint(spec.dnp3.port + RELAY_OFFSET, spec.dnp3.address)
                    behind.setdefault(spec.tier, set()).add((spec.dnp3.port, where.port))
                station = self._channel(where).add(where.address, inverter.map.points, inverter.command)
                self.der_stations[spec.der.name] = station
        for name, feeder in self.layout.feeders.items():
            if feeder.rtu is not None:
                self.rtus[name] = self._channel(feeder.rtu).add(
                    feeder.rtu.address, SUBSTATION_RTU, functools.partial(self.rtu_command, name)
                )
        for tier, pairs in behind.items():
            self._relay(f"tier:{tier}", TIERS[tier], sorted(pairs))
        for name, pair in self.links.items():
            self._relay(f"link:{name}", TIERS["wan"], [pair])
        self.publish()
        if sep2 is not None and (sep2.count or sep2.aggregated):
            from apps.der_registry.engine.sep2 import sim_fleet

            self._sep2_handle = sim_fleet.start(
                sep2.count, sep2.base_url, sep2.cert_dir, sep2.poll_s, sep2.aggregated, grid=self.sep2
            )
        self._thread = threading.Thread(target=self._run, name="plant-steps", daemon=True)
        self._thread.start()

    def _relay(self, key: str, tier: Tier, pairs: list[tuple[int, int]]) -> None:
        relay = TierRelay(tier, pairs)
        relay.start()
        self.relays[key] = relay

    def _run(self) -> None:
        period_s = self.clock.wall_step_s(self.step_s)
        while not self._stop.wait(period_s):
            self.step()
            self.publish()

    def known(self) -> Known:
        tr = self.plant.transmission
        branches = frozenset(branch_names(tr.net)) if tr is not None else frozenset()
        tiers = frozenset(d.tier for d in self.layout.ders if d.tier)
        return Known(
            frozenset(self.layout.feeders), frozenset(self.feeder_of), branches, tiers, frozenset(self.links)
        )

    def add_scenario(self, doc: Any, ident: int) -> Scenario:
        """A trainer's event (ScenarioError, nothing changed, if the plant cannot run it)."""
        with self._lock:
            if ident in self.book.scenarios:
                raise ScenarioError(f"scenario {ident} exists already")
            scenario = parse(doc, ident, self.known(), time.time())
            self.book.add(scenario)
            return scenario

    def end_scenario(self, ident: int) -> Scenario:
        with self._lock:
            return self.book.end(ident, time.time())

    def _apply_scenarios(self, now_s: float) -> None:
        """Hold every active event's effect; undo the ones that ended."""
        active = self.book.active(now_s)
        for name, weather in self.plant.weather.items():
            mine = [s for s in active if name in s.feeders]
            weather.cloud_factor = min([s.factor for s in mine if s.kind == "cloud"], default=1.0)
            weather.load_factor = math.prod(s.factor for s in mine if s.kind == "load_step")
        tr = self.plant.transmission
        if tr is not None:
            out = {s.branch for s in active if s.kind == "line_outage"}
            for branch in out - tr.lines_out:
                tr.take_out(branch)
            for branch in tr.lines_out - out:
                tr.restore(branch)
        ignoring = {s.der for s in active if s.kind == "der_ignores"}
        tripped = {s.der for s in active if s.kind == "der_trips"}
        for name, inverter in self.inverters.items():
            inverter.settings.ignores_set_points = name in ignoring
        self.sep2.ignoring = {lfdi for lfdi, name in self.sep2_lfdi.items() if name in ignoring}
        cut = {f"tier:{s.tier}" for s in active if s.tier} | {f"link:{s.link}" for s in active if s.link}
        for key, relay in self.relays.items():
            relay.cut = key in cut
        self.sep2.unreachable = {lfdi for lfdi, tier in self.sep2_tier.items() if f"tier:{tier}" in cut}
        for name in tripped ^ self._tripped:
            self._trip(name, name in tripped)
        self._tripped = tripped

    def _trip(self, der: str, tripped: bool) -> None:
        if der in self.inverters:
            self.inverters[der].trip(tripped)
            return
        lfdi = self.lfdi_of.get(der, "")
        if lfdi:
            self.sep2.trip(lfdi, tripped)
        else:  # a DER the control room cannot reach
            self.apply(der, DerCommand(connected=not tripped))

    def step(self) -> Truth:
        with self._lock:
            self._apply_scenarios(time.time())
            truth = self.plant.step(self.clock.sim_at(time.time()))
            self.last = truth
            for lfdi, name in self.sep2_lfdi.items():
                self.sep2.readings[lfdi] = truth.feeders[self.feeder_of[name]].ders[name]
        self.steps += 1
        if self.truth_path is not None and (self.steps - 1) % self.truth_every == 0:
            with self.truth_path.open("a") as out:
                out.write(json.dumps(truth.as_record()) + "\n")
        return truth

    def publish(self) -> None:
        """The last state into every outstation (changes become DNP3 events)."""
        truth = self.last
        if truth is None:
            return
        for name, station in self.der_stations.items():
            station.update(self.inverters[name].measure(truth.feeders[self.feeder_of[name]].ders.get(name)))
        for name, station in self.rtus.items():
            station.update(rtu_values(truth.feeders[name]))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sep2_handle is not None:
            self._sep2_handle.stop()
        for relay in self.relays.values():
            relay.stop()
        for channel in self.channels.values():
            channel.close()
        self.channels.clear()
