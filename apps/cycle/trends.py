"""Trends for the operator (issue #14 item 2): over the last 24 hours, per DSO interface the Q the EMS
requested, what the DSO achieved and the range it offered (a step per cycle; interface totals,
changes from the operating point, + = injected), and per feeder the lowest and highest voltage
after each dispatch against the ANSI C84.1 range A band. Built here, drawn by the page's JS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from apps.dms.models import DispatchRun
from apps.dms.plots import DARK
from apps.ems.models import DsoEndpoint, DsoMessage
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

WINDOW = dt.timedelta(hours=24)
GAP = dt.timedelta(minutes=15)  # longer without a point: the line breaks (nothing ran), not a flat step


Series = list[float | None]


def _gaps(times: list[dt.datetime], *series: Series) -> tuple[list[str], list[Series]]:
    """ISO times and series with an empty point wherever nothing was recorded for longer than GAP."""
    x: list[str] = []
    out: list[list[float | None]] = [[] for _ in series]
    for i, t in enumerate(times):
        if i and t - times[i - 1] > GAP:
            x.append((times[i - 1] + GAP).isoformat())
            for column in out:
                column.append(None)
        x.append(t.isoformat())
        for column, values in zip(out, series, strict=True):
            column.append(values[i])
    return x, out


def _step(name: str, x: list[str], y: Sequence[float | None], **style: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "line": {"shape": "hv", **style},
        "name": name,
        "x": x,
        "y": y,
    }


def dso_figure(endpoint: DsoEndpoint, now: dt.datetime) -> dict[str, Any]:
    """Requested, achieved and [q_min, q_max] per cycle (kvar, interface totals)."""
    rows = DsoMessage.objects.filter(bus=endpoint.bus, interval_start__gte=now - WINDOW).order_by(
        "interval_start", "id"
    )
    times: list[dt.datetime] = []
    low: list[float | None] = []
    high: list[float | None] = []
    req: list[float | None] = []
    ach: list[float | None] = []
    for m in rows:
        times.append(m.interval_start)
        low.append(m.q_min_kvar * m.count)
        high.append(m.q_max_kvar * m.count)
        req.append(m.q_request_kvar * m.count)
        ach.append(m.q_achieved_kvar * m.count if m.q_achieved_kvar is not None else None)
    x, (low, high, req, ach) = _gaps(times, low, high, req, ach)
    data = [
        _step("q_min offered", x, low, color="#5b7085", width=1),
        {
            **_step("q_max offered", x, high, color="#5b7085", width=1),
            "fill": "tonexty",
            "fillcolor": "rgba(91,112,133,.25)",
        },
        _step("requested", x, req, color="#e6edf3", width=2, dash="dash"),
        _step("achieved", x, ach, color="#4aa3ff", width=2),
    ]
    layout = {
        **DARK,
        "height": 300,
        "title": {"text": f"{endpoint.name} (bus {endpoint.bus}): Q per cycle, last 24 h"},
        "yaxis": {"title": {"text": "kvar (change from operating point, + injected)"}},
        "xaxis": {"title": {"text": "interval (UTC)"}},
        "legend": {"orientation": "h"},
    }
    return {"data": data, "layout": layout, "points": len(times)}


def feeder_voltage_figure(feeder: str, now: dt.datetime) -> dict[str, Any]:
    """The lowest and highest node voltage after each dispatch, with the ANSI band."""
    runs = DispatchRun.objects.filter(
        feeder__name=feeder, status=DispatchRun.Status.DONE, created_at__gte=now - WINDOW
    ).order_by("created_at")
    times: list[dt.datetime] = []
    lowest: list[float | None] = []
    highest: list[float | None] = []
    for run in runs.only("created_at", "result"):
        after = run.result or {}
        if "v_min_pu_after" in after:
            times.append(run.created_at)
            lowest.append(after["v_min_pu_after"])
            highest.append(after["v_max_pu_after"])
    x, (v_min, v_max) = _gaps(times, lowest, highest)
    band = {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": V_MIN_PU, "y1": V_MAX_PU}
    layout = {
        **DARK,
        "height": 280,
        "title": {"text": f"Feeder {feeder}: lowest and highest voltage after dispatch"},
        "yaxis": {"title": {"text": "pu"}},
        "legend": {"orientation": "h"},
        "shapes": [{**band, "fillcolor": "rgba(63,185,80,.08)", "line": {"width": 0}}],
    }
    data = [_step("lowest", x, v_min, color="#f2cc60"), _step("highest", x, v_max, color="#f778ba")]
    return {"data": data, "layout": layout, "points": len(times)}
