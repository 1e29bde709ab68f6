"""The operating state both power-flow engines take and the result they both return, with the checks
and comparisons every engine shares."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.dms.engine.network import Network


@dataclass(frozen=True)
class DerInjection:
    """A DER at fixed output; positive q_kvar is injected into the grid, shared equally over phases."""

    bus: str
    phases: tuple[int, ...]
    p_kw: float
    q_kvar: float = 0.0


@dataclass(frozen=True)
class OperatingState:
    """Loads scaled by `load_scale`; DER injections by name (a name of a network generator replaces
    it); `taps` per transformer and phase (winding-2 tap in pu; default: the network's solved taps,
    held fixed); `source_pu` defaults to the network's source voltage."""

    load_scale: float = 1.0
    ders: Mapping[str, DerInjection] = field(default_factory=dict)
    taps: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    source_pu: float | None = None


@dataclass(frozen=True)
class BranchFlow:
    """Per-phase power into the element at its `from` terminal and out of it at its `to` terminal."""

    phases: tuple[int, ...]
    p_from_kw: tuple[float, ...]
    q_from_kvar: tuple[float, ...]
    p_to_kw: tuple[float, ...]
    q_to_kvar: tuple[float, ...]


@dataclass(frozen=True)
class PowerFlowResult:
    """Voltages as "<bus>.<phase>" → |V| in pu of the bus's line-to-neutral base.

    Substation power is drawn from the source (positive = import). `demand_*` is the net consumption of
    loads, capacitors, generators and DERs; `losses_*` is everything the series elements consume
    (including line charging), so substation = demand + losses. OpenDSS also reports phase angles and
    per-branch flows, which the linear model calibrates from.
    """

    voltages_pu: dict[str, float]
    substation_p_kw: float
    substation_q_kvar: float
    losses_kw: float
    losses_kvar: float
    demand_p_kw: float
    demand_q_kvar: float
    converged: bool
    angles_deg: dict[str, float] = field(default_factory=dict)
    branch_flows: dict[str, BranchFlow] = field(default_factory=dict)
    state: OperatingState | None = None


def checked_taps(net: Network, state: OperatingState) -> dict[str, tuple[float, ...]]:
    """The state's taps, checked against the transformers they name; ValueError says what is wrong."""
    by_name = {t.name: t for t in net.transformers}
    taps = {}
    for name, tap in state.taps.items():
        tr = by_name.get(name)
        if tr is None:
            raise ValueError(f"The state sets taps of transformer {name!r}, which the feeder does not have.")
        if len(tap) != len(tr.tap):
            raise ValueError(f"Transformer {name} needs {len(tr.tap)} tap ratio(s), not {len(tap)}.")
        if any(not tr.tap_min - 1e-9 <= t <= tr.tap_max + 1e-9 for t in tap):
            raise ValueError(f"A tap of transformer {name} is outside [{tr.tap_min}, {tr.tap_max}].")
        taps[name] = tuple(float(t) for t in tap)
    return taps


def check_ders(net: Network, state: OperatingState) -> None:
    """ValueError unless every DER of the state sits on energized, grounded node-phases."""
    for name, der in state.ders.items():
        bus = net.bus.get(der.bus)
        if bus is None or not der.phases or not set(der.phases) <= set(bus.phases):
            raise ValueError(
                f"DER {name} is on {der.bus}.{der.phases}, which is not an energized node of the feeder."
            )
        if der.bus in net.ungrounded_buses():
            raise ValueError(
                f"DER {name} is on bus {der.bus}, which a delta winding feeds without a ground reference."
            )


def voltage_error_pct(result: PowerFlowResult, reference: PowerFlowResult) -> dict[str, float]:
    """|V| error per node-phase in percent of the reference; both results must cover the same nodes."""
    return {k: 100.0 * abs(result.voltages_pu[k] - v) / v for k, v in reference.voltages_pu.items() if v > 0}


def complex_voltages(result: PowerFlowResult) -> dict[str, complex]:
    return {
        k: v * complex(math.cos(math.radians(a)), math.sin(math.radians(a)))
        for k, v in result.voltages_pu.items()
        if (a := result.angles_deg.get(k)) is not None
    }
