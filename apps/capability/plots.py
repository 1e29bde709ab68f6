"""The P–Q flexibility region: q_min–q_max band against headroom, q_base dashed (seed 004 Fig. 4)."""

from __future__ import annotations

import itertools
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


def flat_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point of every series (a plain sweep is one unnamed series), for CSV export."""
    series = result.get("series") or [{"label": "", **result}]
    return [{"series": s["label"], **row} for s in series for row in rpfr_rows(s)]


def series_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per series at its first headroom: the region's ends and width."""
    rows = []
    for s in result["series"]:
        first = rpfr_rows(s)[0]
        width = (first["q_max_kvar"] - first["q_min_kvar"]) if first["rpfr_min_kvar"] is not None else None
        rows.append(
            {
                "label": s["label"],
                "headroom": first["headroom"],
                "headroom_pct": round(100 * first["headroom"], 1),
                "q_min_kvar": first["q_min_kvar"],
                "q_max_kvar": first["q_max_kvar"],
                "width_kvar": width,
                "feasible": first["feasible"],
            }
        )
    return rows


def series_figure(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """v_tm and day-ahead studies: the band at each headroom against v_tm or hour; the other
    studies: the q_min–q_max band of each scenario at each headroom."""
    fig = go.Figure()
    along = {"vtm": ("v_tm", "transmission-side voltage v_tm (pu)"), "day_ahead": ("hour", "hour of day")}
    if kind in along:
        key, title = along[kind]
        headrooms = [p["headroom"] for p in result["series"][0]["points"]]
        for i, h in enumerate(headrooms):
            xs, lo, hi = [], [], []
            for s in result["series"]:
                p = s["points"][i]
                xs.append(s[key])
                lo.append(p["q_min_kvar"] if p["feasible"] else None)
                hi.append(p["q_max_kvar"] if p["feasible"] else None)
            fig.add_trace(go.Scatter(x=xs, y=hi, mode="lines+markers", name=f"q_max, headroom {h:.0%}"))
            fig.add_trace(
                go.Scatter(x=xs, y=lo, mode="lines+markers", name=f"q_min, headroom {h:.0%}", fill="tonexty")
            )
        for x in _infeasible_everywhere(result["series"], key):
            fig.add_vrect(
                x0=x - 0.5 * _step(result["series"], key),
                x1=x + 0.5 * _step(result["series"], key),
                fillcolor="rgba(248,81,73,0.15)",
                line_width=0,
            )
        band = result.get("decoupling_range")
        if band:
            fig.add_vrect(
                x0=band[0],
                x1=band[1],
                fillcolor="rgba(63,185,80,0.08)",
                line_width=0,
                annotation_text="OLTC decoupling range",
                annotation_position="top left",
            )
        fig.update_layout(xaxis_title=title)
    else:
        for s in result["series"]:
            pts = [p for p in s["points"] if p["feasible"]]
            h = [100 * p["headroom"] for p in pts]
            fig.add_trace(
                go.Scatter(
                    x=h + h[::-1],
                    y=[p["q_max_kvar"] for p in pts] + [p["q_min_kvar"] for p in pts][::-1],
                    fill="toself",
                    name=s["label"],
                    mode="lines+markers",
                    opacity=0.6,
                )
            )
        fig.update_layout(xaxis_title="aggregated headroom (% of available PV)")
    fig.update_layout(
        title="Q drawn from transmission (kvar): the feasible range per scenario",
        yaxis_title="kvar (+ = import)",
        height=520,
        **DARK,
    )
    return fig.to_plotly_json()


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Per headroom both studies share (plain sweeps only): q_min and q_max of each and B − A."""
    if a.get("series") or b.get("series"):
        return []
    other = {p["headroom"]: p for p in b["points"]}
    rows = []
    for p in a["points"]:
        q = other.get(p["headroom"])
        if q is None:
            continue
        both = p["feasible"] and q["feasible"]
        rows.append(
            {
                "headroom": p["headroom"],
                "a_min": p["q_min_kvar"],
                "b_min": q["q_min_kvar"],
                "a_max": p["q_max_kvar"],
                "b_max": q["q_max_kvar"],
                "d_min": round(q["q_min_kvar"] - p["q_min_kvar"], 1) if both else None,
                "d_max": round(q["q_max_kvar"] - p["q_max_kvar"], 1) if both else None,
            }
        )
    return rows


def _infeasible_everywhere(series: list[dict[str, Any]], key: str) -> list[float]:
    """Values of the swept parameter at which no headroom has a feasible point (shaded red)."""
    return [s[key] for s in series if not any(p["feasible"] for p in s["points"])]


def _step(series: list[dict[str, Any]], key: str) -> float:
    xs = sorted(s[key] for s in series)
    return min((b - a for a, b in itertools.pairwise(xs)), default=1.0)
