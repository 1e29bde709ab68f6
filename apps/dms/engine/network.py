"""The project's own feeder model: buses, branches and shunt elements of a radial distribution feeder.

Built from a solved OpenDSS circuit by `dss_import.read_network`; stored as the plain JSON dict of
`Network.to_dict()`. Engineering units throughout (ohm, µS, kV, kW, kvar); the solvers convert to
per-unit inside. Phases are OpenDSS node numbers 1/2/3. Transformer taps are the solved taps of the
regulator control loop, so every engine describes the same operating point.

The operating state both power-flow engines take, and the result they both return, live in
`powerflow_types` and are re-exported here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from apps.dms.engine.network_json import build, decode_matrix, encode
from apps.dms.engine.powerflow_types import (
    BranchFlow,
    DerInjection,
    OperatingState,
    PowerFlowResult,
    check_ders,
    checked_taps,
    complex_voltages,
    voltage_error_pct,
)

__all__ = [
    "BranchFlow",
    "Bus",
    "Capacitor",
    "ComplexMatrix",
    "Conn",
    "DerInjection",
    "FeederImportError",
    "Generator",
    "Line",
    "Load",
    "Network",
    "OperatingState",
    "PowerFlowResult",
    "PowerLaw",
    "RealMatrix",
    "Topology",
    "Transformer",
    "branches",
    "check_ders",
    "checked_taps",
    "complex_voltages",
    "shunt_windings",
    "voltage_error_pct",
]

Conn = Literal["wye", "delta"]
ComplexMatrix = tuple[tuple[complex, ...], ...]
RealMatrix = tuple[tuple[float, ...], ...]


class FeederImportError(ValueError):
    """The OpenDSS model could not be compiled, solved or represented; the message says why."""


@dataclass(frozen=True)
class Bus:
    name: str
    phases: tuple[int, ...]
    base_kv_ln: float
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class Line:
    """A series branch; `z_ohm` and `b_shunt_us` are totals for the whole length, rows/cols = `phases`."""

    name: str
    bus_from: str
    bus_to: str
    phases: tuple[int, ...]
    z_ohm: ComplexMatrix
    b_shunt_us: RealMatrix
    length_km: float = 0.0
    is_switch: bool = False

    def z_matrix(self) -> NDArray[np.complex128]:
        return np.array(self.z_ohm, dtype=complex)

    def b_matrix_us(self) -> NDArray[np.float64]:
        return np.array(self.b_shunt_us, dtype=float)


@dataclass(frozen=True)
class Transformer:
    """A two-winding transformer, single-phase regulator or center-tapped service transformer; phases
    in conductor order.

    kV ratings follow OpenDSS: line-to-line for 2- and 3-phase units, the winding voltage for
    single-phase ones. `r_pct` is the total series resistance and `x_pct` the leakage reactance, both
    on `kva`. `tap` is the winding-2 tap (pu) per phase; `lead_lag` is OpenDSS's delta-wye phase-shift
    convention ("lag": the low-voltage side lags by 30°).
    """

    name: str
    bus_from: str
    bus_to: str
    phases: tuple[int, ...]
    conn_from: Conn
    conn_to: Conn
    kv_from: float
    kv_to: float
    kva: float
    r_pct: float
    x_pct: float
    tap: tuple[float, ...]
    tap_min: float = 0.9
    tap_max: float = 1.1
    num_taps: int = 32
    is_regulator: bool = False
    is_feeder_head: bool = False
    lead_lag: Literal["lag", "lead"] = "lag"
    imag_pct: float = 0.0
    noload_pct: float = 0.0
    ppm_antifloat: float = 1.0
    # A single-phase unit whose secondary spans other nodes than its primary (phase to ground on one
    # side, phase to phase on the other: half an open-wye/open-delta bank): the secondary's nodes.
    # A center-tapped single-phase service transformer (three windings: the primary and two halves in
    # series on the secondary, node `phases_to[0]` to ground and ground to `phases_to[1]`, 120/240 V):
    # the secondary's two nodes, and %r of each winding and %X between each pair (xhl, xht, xlt) on
    # `kva`, as OpenDSS gives them.
    phases_to: tuple[int, ...] = ()
    center_tap_pct: tuple[float, ...] = ()
    # The node a three-phase wye primary's neutral is on when it is not grounded (0: grounded). Its
    # windings then see the phase voltages less their mean: no zero sequence passes.
    neutral_from: int = 0

    @property
    def is_center_tap(self) -> bool:
        return bool(self.center_tap_pct)

    @property
    def secondary_phases(self) -> tuple[int, ...]:
        """The nodes of the `to` bus it feeds: `phases` but for a center tap's two half-windings."""
        return self.phases_to or self.phases

    @property
    def windings(self) -> int:
        """Windings per side: one for a single-phase unit across two phases, else one per phase."""
        return 1 if self.conn_from == "delta" and len(self.phases) == 2 else len(self.phases)

    def winding_ends(self, side: Literal["from", "to"]) -> list[tuple[int, int | None]]:
        """(start, end) conductor index of each winding, end None for ground. OpenDSS: delta winding
        k spans k → k+1, or k → k−1 on the high-voltage side of a "lag" delta-wye unit (so the
        low-voltage side lags by 30°); "lead" flips that."""
        conn = self.conn_from if side == "from" else self.conn_to
        n = len(self.phases if side == "from" else self.secondary_phases)
        if conn == "wye":
            return [(k, None) for k in range(n)]
        if n == 2:
            return [(0, 1)]
        step = 1
        if self.conn_from != self.conn_to:
            delta_is_hv = (self.kv_from >= self.kv_to) == (self.conn_from == "delta")
            step = (-1 if delta_is_hv else 1) * (1 if self.lead_lag == "lag" else -1)
        return [(k, (k + step) % 3) for k in range(3)]

    def winding_kv(self, side: Literal["from", "to"]) -> float:
        """Rated voltage across one winding."""
        kv, conn = (self.kv_from, self.conn_from) if side == "from" else (self.kv_to, self.conn_to)
        return kv if self.windings == 1 or conn == "delta" else kv / math.sqrt(3)


@dataclass(frozen=True)
class Load:
    """`model` is the OpenDSS load model (1 constant PQ, 2 constant Z, 4 exponential, 5 constant |I|
    …); `kv` its rating; `cvr_watts` / `cvr_vars` the exponents of model 4 (P ∝ V^cvr_watts). A ZIP
    load (model 8) is read as three loads — its Z, I and P parts (models 2, 5, 1) — which OpenDSS
    solves alike, each keeping the ZIP load's drop-out voltage `zip_cutoff_pu`."""

    name: str
    bus: str
    phases: tuple[int, ...]
    conn: Conn
    p_kw: float
    q_kvar: float
    model: int
    kv: float
    vmin_pu: float = 0.95
    vmax_pu: float = 1.05
    cvr_watts: float = 1.0
    cvr_vars: float = 2.0
    vlow_pu: float = 0.5
    zip_cutoff_pu: float = 0.0  # a ZIP part's drop-out voltage (the 7th ZIPV coefficient); 0 = none

    @property
    def exponents(self) -> tuple[float, float]:
        """(nP, nQ): P ∝ |V|^nP and Q ∝ |V|^nQ between vmin_pu and vmax_pu."""
        p, q = self.laws
        return p.n, q.n

    @property
    def laws(self) -> tuple[PowerLaw, PowerLaw]:
        """How P and Q follow |V|, inside the band and outside it (see `PowerLaw`)."""
        if self.model == 4:
            return PowerLaw(self.cvr_watts, 0.0, True), PowerLaw(self.cvr_vars, 0.0, True)
        return LOAD_LAWS[self.model]


@dataclass(frozen=True)
class PowerLaw:
    """One power component of an OpenDSS load as its Load.pas computes it (checked by solving one
    load at swept voltages): P/P0 = v^n for vmin ≤ v ≤ vmax. Above vmax, a constant impedance drawing
    vmax^nb at vmax. Below vmin, a constant impedance drawing vmin^nb at vmin (`interpolated`
    False) or (True) a current falling linearly with |V| from that to the nominal impedance's at
    vlow. Below vlow, the nominal impedance (v²). nb is 0 for the constant-power models and model 4
    — OpenDSS switches a CVR load to the impedance drawing its *nominal* power at vmin."""

    n: float
    nb: float
    interpolated: bool


# OpenDSS load model → the laws of its P and Q; model 4 takes its exponents from the load.
_PQ, _Z, _I = PowerLaw(0, 0, True), PowerLaw(2, 2, True), PowerLaw(1, 1, True)
LOAD_LAWS: dict[int, tuple[PowerLaw, PowerLaw]] = {
    1: (_PQ, _PQ), 2: (_Z, _Z), 3: (_PQ, PowerLaw(2, 0, True)), 5: (_I, _I),
    6: (PowerLaw(0, 0, False), PowerLaw(0, 2, True)), 7: (PowerLaw(0, 0, False), _Z),
}  # fmt: skip


@dataclass(frozen=True)
class Capacitor:
    name: str
    bus: str
    phases: tuple[int, ...]
    conn: Conn
    kvar: float
    kv: float


@dataclass(frozen=True)
class ShuntReactor:
    """A shunt reactor, each phase to ground (wye) or between phases (delta): a constant impedance
    that absorbs `kvar` and dissipates `kw` at `kv` (rated as OpenDSS rates shunts: `shunt_windings`)."""

    name: str
    bus: str
    phases: tuple[int, ...]
    conn: Conn
    kvar: float
    kv: float
    kw: float = 0.0

    @property
    def winding_ohm(self) -> complex:
        """Each winding's impedance, V_w² / conj(S_w)."""
        ends, kv_w = shunt_windings(self.conn, self.phases, self.kv)
        s_w = complex(self.kw, self.kvar) / len(ends)
        return 1000 * kv_w**2 / s_w.conjugate()


@dataclass(frozen=True)
class Generator:
    """A PVSystem, Generator or Storage element of the feeder file at its solved output (`kind`: its
    OpenDSS class, lower case); positive p_kw and q_kvar are injected into the grid. Until an admin
    enrols it as a DER it is a fixed injection the control room does not dispatch."""

    name: str
    bus: str
    phases: tuple[int, ...]
    p_kw: float
    q_kvar: float
    kva: float
    kv: float = 0.0
    conn: Conn = "wye"
    kind: str = "generator"
    p_rated_kw: float = 0.0  # rating: PVSystem Pmpp, Generator kW, Storage kWrated; 0 = not known

    @property
    def element(self) -> str:
        """The element's key in the feeder file, "<class>.<name>" (lower case): how a DER enrolled
        from it names it."""
        return f"{self.kind}.{self.name}"


def shunt_windings(
    conn: Conn, phases: tuple[int, ...], kv: float
) -> tuple[list[tuple[int, int | None]], float]:
    """Windings of a load, capacitor or generator as (phase, other phase or None for ground), and the
    rated voltage across each. OpenDSS rates single-phase elements by the voltage across them and
    others line to line; its delta elements span phase k → k+1."""
    if conn == "wye":
        return [(p, None) for p in phases], kv if len(phases) == 1 else kv / math.sqrt(3)
    if len(phases) == 2:
        return [(phases[0], phases[1])], kv
    return [(phases[k], phases[(k + 1) % 3]) for k in range(3)], kv


@dataclass(frozen=True)
class Topology:
    """The radial tree: buses source-first (parents before children) and the elements feeding each bus."""

    order: tuple[str, ...]
    parent: Mapping[str, str]
    feeders: Mapping[str, tuple[str, ...]]
    children: Mapping[str, tuple[str, ...]]
    depth: Mapping[str, int]


@dataclass(frozen=True)
class Network:
    name: str
    source_bus: str
    source_kv_ll: float
    source_pu: float
    buses: tuple[Bus, ...]
    lines: tuple[Line, ...]
    transformers: tuple[Transformer, ...]
    loads: tuple[Load, ...]
    capacitors: tuple[Capacitor, ...]
    generators: tuple[Generator, ...]
    source_angle_deg: float = 0.0
    source_z_ohm: ComplexMatrix = ((0j, 0j, 0j), (0j, 0j, 0j), (0j, 0j, 0j))
    frequency_hz: float = 60.0
    shunt_reactors: tuple[ShuntReactor, ...] = ()

    @cached_property
    def bus(self) -> dict[str, Bus]:
        return {b.name: b for b in self.buses}

    def node_keys(self) -> list[str]:
        """Every node-phase as "<bus>.<phase>", in bus order."""
        return [f"{b.name}.{p}" for b in self.buses for p in b.phases]

    def topology(self) -> Topology:
        """Orient the feeder from the source; raises FeederImportError naming an element closing a loop."""
        return self._topology

    @cached_property
    def _topology(self) -> Topology:  # the network is immutable: one walk serves every caller
        return _topology(self)

    def ungrounded_buses(self) -> frozenset[str]:
        """Buses fed through a delta secondary: they have no ground reference (no wye DER belongs there)."""
        return self._ungrounded

    @cached_property
    def _ungrounded(self) -> frozenset[str]:
        topo, by_name = self.topology(), {f"transformer.{t.name}": t for t in self.transformers}
        out: set[str] = set()
        for bus in topo.order[1:]:
            fed = [by_name[e] for e in topo.feeders[bus] if e in by_name]
            grounded = any(t.conn_to == "wye" for t in fed) if fed else topo.parent[bus] not in out
            if not grounded:
                out.add(bus)
        return frozenset(out)

    def bus_distances_km(self) -> dict[str, float]:
        """Line length along the path from the source to each bus (transformers count as zero)."""
        topo = self.topology()
        length = {f"line.{ln.name}": ln.length_km for ln in self.lines}
        dist = {self.source_bus: 0.0}
        for bus in topo.order[1:]:
            step = min(length.get(e, 0.0) for e in topo.feeders[bus])
            dist[bus] = dist[topo.parent[bus]] + step
        return dist

    def to_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], encode(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Network:
        kinds = {
            "buses": Bus,
            "lines": Line,
            "transformers": Transformer,
            "loads": Load,
            "capacitors": Capacitor,
            "generators": Generator,
            "shunt_reactors": ShuntReactor,
        }
        args: dict[str, Any] = {
            k: tuple(build(kinds[k], d) for d in v) if k in kinds else v for k, v in data.items()
        }
        if "source_z_ohm" in data:
            args["source_z_ohm"] = decode_matrix(data["source_z_ohm"], complex)
        return cls(**args)


def branches(net: Network) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    """Every series element as "line.<name>"/"transformer.<name>" → (bus_from, bus_to, phases)."""
    out = {f"line.{x.name}": (x.bus_from, x.bus_to, x.phases) for x in net.lines}
    out.update({f"transformer.{x.name}": (x.bus_from, x.bus_to, x.phases) for x in net.transformers})
    return out


def _topology(net: Network) -> Topology:
    adjacent: dict[str, list[tuple[str, str]]] = {}
    for name, (a, b, _) in branches(net).items():
        adjacent.setdefault(a, []).append((b, name))
        adjacent.setdefault(b, []).append((a, name))
    elements = branches(net)
    parent: dict[str, str] = {}
    feeders: dict[str, list[str]] = {}
    depth = {net.source_bus: 0}
    order = [net.source_bus]
    queue = deque([net.source_bus])
    while queue:
        bus = queue.popleft()
        for other, name in adjacent.get(bus, []):
            if name in feeders.get(bus, []):
                continue
            if other not in depth:
                parent[other], depth[other] = bus, depth[bus] + 1
                feeders[other] = [name]
                order.append(other)
                queue.append(other)
            elif parent.get(other) == bus and _phases_disjoint(elements, feeders[other], name):
                feeders[other].append(name)  # a bank of single-phase units between the same buses
            elif name not in feeders.get(other, []):
                raise FeederImportError(
                    f"{_label(name)} closes a loop between buses {bus} and {other}; "
                    "only radial feeders can be modelled."
                )
    children: dict[str, list[str]] = {b: [] for b in order}
    for bus in order[1:]:
        children[parent[bus]].append(bus)
    return Topology(
        order=tuple(order),
        parent=parent,
        feeders={b: tuple(v) for b, v in feeders.items()},
        children={b: tuple(v) for b, v in children.items()},
        depth=depth,
    )


def _phases_disjoint(
    elements: Mapping[str, tuple[str, str, tuple[int, ...]]], have: list[str], new: str
) -> bool:
    used = {p for name in have for p in elements[name][2]}
    return not used & set(elements[new][2])


def _label(name: str) -> str:
    kind, _, rest = name.partition(".")
    return f"{kind.capitalize()}.{rest}"
