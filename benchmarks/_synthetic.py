"""The benchmarks' feeders: IEEE 123 from the project's fixture, and the synthetic radial feeder built
from it by replicating the laterals below its substation regulator (described in powerflow.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from apps.dms.engine.network import Network

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "apps" / "dms" / "fixtures" / "ieee123.json"
LATERAL_ROOT = "149"  # first bus after the substation regulator's output bus 150r and switch sw1


def load_ieee123() -> Network:
    with FIXTURE.open(encoding="utf-8") as f:
        return Network.from_dict(json.load(f))


def node_phases(net: Network) -> int:
    return sum(len(b.phases) for b in net.buses)


def downstream(net: Network, root: str) -> set[str]:
    """`root` and every bus below it."""
    children = net.topology().children
    found, stack = set(), [root]
    while stack:
        bus = stack.pop()
        found.add(bus)
        stack.extend(children[bus])
    return found


def copies_needed(net: Network, target: int) -> int:
    part = downstream(net, LATERAL_ROOT)
    per_copy = sum(len(b.phases) for b in net.buses if b.name in part)
    return max(1, math.ceil((target - node_phases(net)) / per_copy))


def synthetic(net: Network, copies: int) -> Network:
    """`net` plus `copies` renamed copies of the part below LATERAL_ROOT, each hanging from the same
    bus as the original through a copy of the element that feeds it; loads and capacitors ÷ (K+1)."""
    part, scale, r = downstream(net, LATERAL_ROOT), 1.0 / (copies + 1), dataclasses.replace
    buses, lines, trs = list(net.buses), list(net.lines), list(net.transformers)
    loads = [r(x, p_kw=x.p_kw * scale, q_kvar=x.q_kvar * scale) for x in net.loads]
    caps = [r(x, kvar=x.kvar * scale) for x in net.capacitors]
    for k in range(1, copies + 1):

        def bus(name: str, k: int = k) -> str:
            return f"{name}_c{k}" if name in part else name

        buses += [r(b, name=bus(b.name)) for b in net.buses if b.name in part]
        lines += [
            r(x, name=f"{x.name}_c{k}", bus_from=bus(x.bus_from), bus_to=bus(x.bus_to))
            for x in net.lines
            if x.bus_to in part
        ]
        trs += [
            r(x, name=f"{x.name}_c{k}", bus_from=bus(x.bus_from), bus_to=bus(x.bus_to))
            for x in net.transformers
            if x.bus_to in part
        ]
        loads += [
            r(x, name=f"{x.name}_c{k}", bus=bus(x.bus)) for x in loads[: len(net.loads)] if x.bus in part
        ]
        caps += [
            r(x, name=f"{x.name}_c{k}", bus=bus(x.bus)) for x in caps[: len(net.capacitors)] if x.bus in part
        ]
    return r(
        net,
        name=f"{net.name}_x{copies + 1}",
        buses=tuple(buses),
        lines=tuple(lines),
        transformers=tuple(trs),
        loads=tuple(loads),
        capacitors=tuple(caps),
    )
