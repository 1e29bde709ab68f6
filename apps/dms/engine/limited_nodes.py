"""Which node-phases the ANSI limits apply to on a feeder: the dispatch and the capability engine
hold the same ones."""

from __future__ import annotations

from collections.abc import Sequence

from apps.dms.engine.network import Network, Transformer


def constrained_nodes(net: Network, head: Sequence[Transformer]) -> tuple[str, ...]:
    """Node-phases the ANSI limits apply to: everything behind the feeder-head transformers (their
    secondaries included); without one, everything but the source bus."""
    topo = net.topology()
    roots = [t.bus_to for t in head] or list(topo.children[net.source_bus])
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        bus = stack.pop()
        if bus not in seen:
            seen.add(bus)
            stack.extend(topo.children[bus])
    return tuple(f"{b}.{p}" for b in topo.order if b in seen for p in net.bus[b].phases)
