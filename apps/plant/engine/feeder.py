"""One feeder of the plant: its imported network compiled once into an OpenDSS context of its own,
then solved every step with the loads of the hour, the PV the sky allows and the set points each DER
actually accepted. What it publishes is what meters on that feeder would read: the feeder head's P,
Q and V, and each DER's P, Q and the voltage at its own bus.

The network is written out by the DMS engine's exporter (the model as imported, regulator taps as
solved at import, no control loop); every load follows a residential or a commercial daily curve
(a fixed share of the loads, picked by name, is commercial) and every DER is an OpenDSS Generator,
model 1, at its own phases — the same convention as apps/dms/engine/opendss_pf.py. The substation's
tap changer sits upstream, in the plant (apps/plant/engine/ltc.py): the feeder is solved at the
source voltage it delivers."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.dss_export import to_dss
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import Network
from apps.plant.engine import shapes


@dataclass(frozen=True)
class PlantDER:
    """A DER as it stands in the field: where it connects, its PV array, its inverter's ratings."""

    name: str
    bus: str
    phases: tuple[int, ...]
    array_kw: float  # what it produces at an irradiance of 1.0
    limits: DERLimits


@dataclass
class DerCommand:
    """The set points a DER's inverter holds (what it accepted, not what was asked)."""

    p_limit_kw: float | None = None  # None: no curtailment
    q_set_kvar: float = 0.0  # positive = injected
    connected: bool = True


@dataclass(frozen=True)
class Conditions:
    """What drives one step: the hour, the sun, extra load, the transmission-side voltage."""

    hour: float
    irradiance: float
    load_factor: float = 1.0  # a load step scales the whole feeder on top of its daily curves
    v_source_pu: float | None = None  # None: the model's own source voltage


@dataclass(frozen=True)
class DerReading:
    p_kw: float
    q_kvar: float
    v_pu: float
    available_kw: float


@dataclass(frozen=True)
class FeederReading:
    """The feeder's true state after one step (powers positive = drawn from the transmission side)."""

    feeder: str
    converged: bool
    p_kw: float
    q_kvar: float
    v_pu: float
    v_min_pu: float
    v_max_pu: float
    demand_p_kw: float
    demand_q_kvar: float
    ders: dict[str, DerReading] = field(default_factory=dict)
    loads: dict[str, tuple[float, float]] = field(default_factory=dict)  # name → (kW, kvar) applied
    tap: int = 0  # the substation tap changer's step in force (apps/plant/engine/ltc.py)
    v_set_pu: float | None = None  # its controller's voltage set point


def der_output(limits: DERLimits, available_kw: float, command: DerCommand) -> tuple[float, float]:
    """P and Q an inverter delivers: Q as set, held to its ratings (asked for more, it gives its
    limit); P what the sun allows, curtailed to the limit and trimmed to stay inside S (Q priority,
    as the field simulator's inverter, apps/dms/engine/dnp3/inverter.py)."""
    if not command.connected:
        return 0.0, 0.0
    q = limits.held_q(command.q_set_kvar)
    q = math.copysign(min(abs(q), limits.s_max_kva), q)
    p = limits.held_p(available_kw)
    if command.p_limit_kw is not None:
        p = min(p, max(command.p_limit_kw, 0.0))
    return min(p, math.sqrt(max(limits.s_max_kva**2 - q * q, 0.0))), q


def is_commercial(load_name: str, share: float) -> bool:
    """A fixed, name-based pick of the feeder's commercial loads (the same on every start)."""
    return (zlib.crc32(load_name.encode()) % 1000) / 1000.0 < share


class FeederPlant:
    """The feeder in its own OpenDSS context, compiled once; `step` re-solves it. Every call into
    OpenDSS runs on the process's one OpenDSS thread (apps/dms/engine/dss_thread.py): a context used
    from one thread and the engine's default instance from another crashed the process."""

    @on_dss_thread
    def __init__(self, net: Network, ders: list[PlantDER], commercial_share: float = 0.3) -> None:
        import opendssdirect as dss

        self.net, self.name = net, net.name
        self.ders = {d.name: d for d in ders}
        self.commands: dict[str, DerCommand] = {d.name: DerCommand() for d in ders}
        self.dss: Any = dss.NewContext()
        *build, _solve = to_dss(net)
        for command in build:
            self.dss.Text.Command(command)
        for i, der in enumerate(ders):
            self.dss.Text.Command(_generator_command(net, f"der{i}", der))
        self._gen_names = {d.name: f"der{i}" for i, d in enumerate(ders)}
        self._base_loads = {x.name.lower(): (x.p_kw, x.q_kvar) for x in net.loads}
        self._commercial = {n for n in self._base_loads if is_commercial(n, commercial_share)}
        nodes = [n.lower() for n in self.dss.Circuit.AllNodeNames()]
        self._node_index = {n: i for i, n in enumerate(nodes)}
        self._source_nodes = [self._node_index[f"{net.source_bus}.{p}"] for p in (1, 2, 3)]

    def command(self, der: str, command: DerCommand) -> None:
        if der not in self.ders:
            raise KeyError(f"feeder {self.name} has no DER named {der!r}")
        self.commands[der] = command

    def load_powers(self, conditions: Conditions) -> dict[str, tuple[float, float]]:
        """Each load's kW and kvar at this hour: its base times its class's curve and the load step."""
        home = shapes.residential(conditions.hour) * conditions.load_factor
        business = shapes.commercial(conditions.hour) * conditions.load_factor
        level = {name: business if name in self._commercial else home for name in self._base_loads}
        return {name: (p * level[name], q * level[name]) for name, (p, q) in self._base_loads.items()}

    @on_dss_thread
    def step(self, conditions: Conditions) -> FeederReading:
        d = self.dss
        loads = self.load_powers(conditions)
        for name, (p_kw, q_kvar) in loads.items():
            d.Loads.Name(name)
            d.Loads.kW(p_kw)
            d.Loads.kvar(q_kvar)
        outputs = {}
        for name, der in self.ders.items():
            available = der.array_kw * conditions.irradiance
            p_kw, q_kvar = der_output(der.limits, available, self.commands[name])
            d.Generators.Name(self._gen_names[name])
            d.Generators.kW(p_kw)
            d.Generators.kvar(q_kvar)
            outputs[name] = (p_kw, q_kvar, available)
        d.Vsources.Name("source")
        d.Vsources.PU(conditions.v_source_pu if conditions.v_source_pu is not None else self.net.source_pu)
        try:
            d.Solution.Solve()
            converged = bool(d.Solution.Converged())
        except Exception:  # OpenDSS reports a failed solution as an error; the reading says so
            converged = False
        return self._reading(converged, outputs, loads)

    def _reading(
        self,
        converged: bool,
        outputs: Mapping[str, tuple[float, float, float]],
        loads: dict[str, tuple[float, float]],
    ) -> FeederReading:
        d = self.dss
        mags = np.asarray(d.Circuit.AllBusMagPu(), dtype=float)
        d.Circuit.SetActiveElement("Vsource.source")
        src = -np.asarray(d.CktElement.Powers(), dtype=float)[:6]
        feeder_nodes = np.delete(mags, self._source_nodes)
        ders = {
            name: DerReading(p, q, self._bus_v(mags, self.ders[name]), available)
            for name, (p, q, available) in outputs.items()
        }
        return FeederReading(
            feeder=self.name,
            converged=converged,
            p_kw=float(src[0::2].sum()),
            q_kvar=float(src[1::2].sum()),
            v_pu=float(mags[self._source_nodes].mean()),
            v_min_pu=float(feeder_nodes.min()),
            v_max_pu=float(feeder_nodes.max()),
            demand_p_kw=sum(p for p, _ in loads.values()),
            demand_q_kvar=sum(q for _, q in loads.values()),
            ders=ders,
            loads=loads,
        )

    def _bus_v(self, mags: np.ndarray, der: PlantDER) -> float:
        return float(np.mean([mags[self._node_index[f"{der.bus}.{p}"]] for p in der.phases]))


def _generator_command(net: Network, dss_name: str, der: PlantDER) -> str:
    bus = net.bus[der.bus]
    kv = bus.base_kv_ln * (1.0 if len(der.phases) == 1 else math.sqrt(3))
    nodes = ".".join([der.bus, *map(str, der.phases)])
    return (
        f"new generator.{dss_name} bus1={nodes} phases={len(der.phases)} kv={kv!r} kw=0 kvar=0 "
        f"kva={der.limits.s_max_kva!r} model=1 vminpu=0.5 vmaxpu=2.0"
    )
