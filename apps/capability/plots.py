"""The P–Q flexibility region: q_min–q_max band against headroom, q_base dashed (seed 004 Fig. 4)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from apps.dms.plots import DARK


def rpfr_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """RPFR = [q_min − q_base, q_max − q_base] per headroom (kvar drawn at the substation)."""
    q_base = result["q_base_kvar"]
    rows = []
    for p in result["points"]:
        feasible = p["feasible"] and p["q_min_kvar"] is not None
        rows.append(
            {
                **p,
                "rpfr_min_kvar": round(p["q_min_kvar"] - q_base, 1) if feasible else None,
                "rpfr_max_kvar": round(p["q_max_kvar"] - q_base, 1) if feasible else None,
            }
        )
    return rows


def region(result: dict[str, Any]) -> dict[str, Any]:
    points = [p for p in result["points"] if p["feasible"] and p["q_min_kvar"] is not None]
    h = [100 * p["headroom"] for p in points]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=h,
            y=[p["q_max_kvar"] for p in points],
            mode="lines+markers",
            name="q_max (least support)",
            line={"color": "#f778ba"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=h,
            y=[p["q_min_kvar"] for p in points],
            mode="lines+markers",
            name="q_min (most capacitive support)",
            line={"color": "#4aa3ff"},
            fill="tonexty",
            fillcolor="rgba(74,163,255,0.18)",
        )
    )
    fig.add_hline(
        y=result["q_base_kvar"],
        line={"color": "#e6edf3", "dash": "dash", "width": 1},
        annotation_text=f"q_base {result['q_base_kvar']:.0f} kvar",
        annotation_position="top left",
    )
    fig.update_layout(
        title="Reactive power flexibility at the substation vs real-power headroom",
        xaxis_title="aggregated headroom (% of available PV held back)",
        yaxis_title="Q drawn from transmission (kvar, + = import)",
        height=480,
        **DARK,
    )
    return fig.to_plotly_json()
