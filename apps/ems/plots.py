"""One-line diagram of a transmission case: buses colored by voltage, branches by loading (plotly)."""

from __future__ import annotations

import functools
import json
from typing import Any

import plotly.graph_objects as go

from apps.dms.plots import DARK
from apps.ems.engine.case import bus_number_of, load_case

LOADING_BANDS = (
    (100.0, "#f85149", "above 100 %"),
    (80.0, "#d29922", "80–100 %"),
    (0.0, "#3fb950", "below 80 %"),
)


@functools.lru_cache(maxsize=8)
def positions(case: str) -> dict[str, tuple[float, float]]:
    """Bus number → (x, y): the case's own geodata, else a fixed-seed spring layout."""
    net = load_case(case)
    number = bus_number_of(net)
    found: dict[str, tuple[float, float]] = {}
    if "geo" in net.bus:
        for index, geo in net.bus.geo.items():
            try:
                x, y = json.loads(geo)["coordinates"][:2]
            except (TypeError, ValueError, KeyError):
                break
            found[str(number[int(index)])] = (float(x), float(y))
    if len(found) == len(net.bus):
        return found
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(str(n) for n in number.values())
    for a, b in _edges(net):
        graph.add_edge(a, b)
    layout = nx.spring_layout(graph, seed=1)
    return {bus: (float(xy[0]), float(xy[1])) for bus, xy in layout.items()}


def _edges(net: Any) -> list[tuple[str, str]]:
    number = bus_number_of(net)
    pairs = list(zip(net.line.from_bus, net.line.to_bus, strict=True))
    pairs += list(zip(net.trafo.hv_bus, net.trafo.lv_bus, strict=True))
    return [(str(number[int(a)]), str(number[int(b)])) for a, b in pairs]


def oneline(case: str, buses: dict[str, float], branches: dict[str, float], title: str) -> dict[str, Any]:
    """Branches as segments (dashed grey when out, else by loading band), buses as voltage markers."""
    where = positions(case)
    fig = go.Figure()
    out = [name for name, pct in branches.items() if pct <= 0.0]
    _segments(fig, where, out, "#5b7085", "out of service", "dash", branches)
    for floor, color, label in LOADING_BANDS:
        ceiling = min((f for f, _, _ in LOADING_BANDS if f > floor), default=float("inf"))
        names = [n for n, pct in branches.items() if pct > 0 and floor <= pct < ceiling]
        _segments(fig, where, names, color, f"line loading {label}", "solid", branches)
    order = sorted(buses, key=int)
    fig.add_trace(
        go.Scatter(
            x=[where[b][0] for b in order],
            y=[where[b][1] for b in order],
            mode="markers+text",
            text=order,
            textposition="top center",
            name="bus voltage (pu)",
            hovertext=[f"bus {b}: {buses[b]:.4f} pu" for b in order],
            hoverinfo="text",
            marker={
                "size": 14 if len(order) < 60 else 9,
                "color": [buses[b] for b in order],
                "colorscale": [
                    [0, "#f85149"],
                    [0.25, "#d29922"],
                    [0.5, "#3fb950"],
                    [0.75, "#d29922"],
                    [1, "#f85149"],
                ],
                "cmin": 0.9,
                "cmax": 1.1,
                "colorbar": {"title": "V (pu)", "tickvals": [0.9, 0.95, 1.0, 1.05, 1.1]},
                "line": {"width": 1, "color": "#0f1419"},
            },
        )
    )
    fig.update_layout(
        title=title,
        height=520,
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.02},
        **DARK,
    )
    return fig.to_plotly_json()


def _segments(
    fig: go.Figure,
    where: dict[str, tuple[float, float]],
    names: list[str],
    color: str,
    label: str,
    dash: str,
    loading: dict[str, float],
) -> None:
    xs: list[float | None] = []
    ys: list[float | None] = []
    hover: list[str] = []
    for name in names:
        a, b = name.split("-")
        text = f"{name}: {loading[name]:.0f} %" if loading[name] > 0 else f"{name}: out"
        xs += [where[a][0], (where[a][0] + where[b][0]) / 2, where[b][0], None]
        ys += [where[a][1], (where[a][1] + where[b][1]) / 2, where[b][1], None]
        hover += [text, text, text, ""]
    if names:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=label,
                hovertext=hover,
                hoverinfo="text",
                line={"color": color, "width": 2, "dash": dash},
            )
        )
