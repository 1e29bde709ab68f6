"""Plotly figures of a feeder: a one-line/geographic map coloured by voltage, and the voltage
profile along the feeder with the ANSI C84.1 range A band. Built here, drawn by the page's JS."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from apps.dms.engine.network import Network, PowerFlowResult
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

PHASE_COLOURS = {1: "#f2cc60", 2: "#4aa3ff", 3: "#f778ba"}
DARK = {
    "template": "plotly_dark",
    "paper_bgcolor": "#182029",
    "plot_bgcolor": "#0f1419",
    "font": {"color": "#e6edf3"},
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
}


def _per_bus(net: Network, result: PowerFlowResult) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for key, v_pu in result.voltages_pu.items():
        bus, _, phase = key.rpartition(".")
        out.setdefault(bus, {})[int(phase)] = v_pu
    return out


def one_line(net: Network, result: PowerFlowResult) -> dict[str, Any]:
    """Buses at their coordinates (or none when the model has none), branches as segments."""
    xy = {b.name: (b.x, b.y) for b in net.buses if b.x is not None and b.y is not None}
    if len(xy) < 2:
        return {}
    seg_x: list[float | None] = []
    seg_y: list[float | None] = []
    for a, b in [(ln.bus_from, ln.bus_to) for ln in net.lines] + [
        (t.bus_from, t.bus_to) for t in net.transformers
    ]:
        if a in xy and b in xy:
            seg_x += [xy[a][0], xy[b][0], None]
            seg_y += [xy[a][1], xy[b][1], None]
    volts = _per_bus(net, result)
    names = [n for n in xy if n in volts]
    worst = [min(volts[n].values()) for n in names]
    hover = [
        f"<b>{n}</b><br>" + "<br>".join(f"phase {p}: {v:.4f} pu" for p, v in sorted(volts[n].items()))
        for n in names
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=seg_x,
            y=seg_y,
            mode="lines",
            line={"color": "#5b7085", "width": 1.5},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[xy[n][0] for n in names],
            y=[xy[n][1] for n in names],
            mode="markers",
            text=hover,
            hoverinfo="text",
            showlegend=False,
            marker={
                "size": 9,
                "color": worst,
                "cmin": 0.93,
                "cmax": 1.07,
                "colorscale": "RdYlGn",
                "colorbar": {"title": {"text": "lowest phase V (pu)"}},
                "line": {"width": 0},
            },
        )
    )
    fig.update_layout(
        title="Feeder map (bus coordinates), coloured by the lowest phase voltage",
        **DARK,
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        height=560,
    )
    return fig.to_plotly_json()


def voltage_profile(net: Network, result: PowerFlowResult) -> dict[str, Any]:
    distance = net.bus_distances_km()
    volts = _per_bus(net, result)
    fig = go.Figure()
    for phase, colour in PHASE_COLOURS.items():
        names = sorted((n for n in volts if phase in volts[n] and n in distance), key=distance.__getitem__)
        fig.add_trace(
            go.Scatter(
                x=[distance[n] for n in names],
                y=[volts[n][phase] for n in names],
                mode="markers",
                name=f"phase {phase}",
                marker={"color": colour, "size": 6},
                text=names,
                hovertemplate="bus %{text}<br>%{x:.3f} km<br>%{y:.4f} pu<extra>phase "
                + str(phase)
                + "</extra>",
            )
        )
    for level in (V_MIN_PU, V_MAX_PU):
        fig.add_hline(
            y=level,
            line={"color": "#f85149", "dash": "dash", "width": 1},
            annotation_text=f"ANSI {level:.2f}",
            annotation_position="top left",
        )
    fig.update_layout(
        title="Voltage profile along the feeder",
        xaxis_title="distance from the source (km)",
        yaxis_title="|V| (pu)",
        height=460,
        **DARK,
    )
    return fig.to_plotly_json()
