"""A DER's default mode (registry: `default_mode`, `mode_params`; engine/mode_settings.py) as the
2030.5 resources that carry it: the DefaultDERControl of its program and the DERCurve it follows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.der_registry.engine.curves import MAX_CURVE_POINTS, VOLT_WATT
from apps.der_registry.engine.ieee1547 import mode_label
from apps.der_registry.engine.sep2.model import (
    CURVE_ID,
    CURVE_VOLT_VAR,
    CURVE_VOLT_WATT,
    CURVE_WATT_VAR,
    SETPOINT_CURVE_BASE,
    VOLT_WATT_CURVE_ID,
    Y_PCT_MAX_W,
    CurveView,
    DefaultControlView,
)

_CURVES = {"volt_var": (CURVE_VOLT_VAR, "opModVoltVar"), "watt_var": (CURVE_WATT_VAR, "opModWattVar")}


def default_control(der_id: int, mode: str, params: Any) -> DefaultControlView:
    """Connected and energized, plus the mode's setting and a volt–watt curve (checked when they
    were set)."""
    settings = params if isinstance(params, dict) else {}
    vw = bool(_points(settings, VOLT_WATT))
    label = f"Default: {mode_label(mode)}" if mode else "Connected, energized"
    label += ", volt–watt" if vw else ""
    if mode == "constant_pf" and isinstance(settings.get("pf"), int | float):
        return DefaultControlView(der_id, label, fixed_pf=float(settings["pf"]), volt_watt=vw)
    if mode == "constant_var" and isinstance(settings.get("q_kvar"), int | float):
        return DefaultControlView(der_id, label, target_var=float(settings["q_kvar"]) * 1000.0, volt_watt=vw)
    if mode in _CURVES and _points(settings):
        return DefaultControlView(der_id, label, curve=_CURVES[mode][1], volt_watt=vw)
    return DefaultControlView(der_id, label, volt_watt=vw)


def curves(mode: str, params: Any, changed_at: dt.datetime) -> list[CurveView]:
    """The curve of a volt–var or watt–var default mode and the volt–watt curve, those it has. The
    registry keeps a curve as (V pu, or P as a fraction of the rating; Q as a fraction of the
    available var, or P as a fraction of the rating); 2030.5 takes percentages (xMultiplier and
    yMultiplier -2)."""
    out = []
    if mode in _CURVES and (points := _points(params)):
        out.append(CurveView(CURVE_ID, changed_at, _CURVES[mode][0], _percent(points)))
    if volt_watt := _points(params, VOLT_WATT):
        pct = _percent(volt_watt)
        out.append(CurveView(VOLT_WATT_CURVE_ID, changed_at, CURVE_VOLT_WATT, pct, Y_PCT_MAX_W))
    return out


def setpoint_curve(setpoint_id: int, issued_at: dt.datetime, mode: str, params: Any) -> CurveView | None:
    """The curve a volt–var or watt–var set point carries (filled in when it was issued), if any."""
    points = _points(params) if mode in _CURVES else []
    if not points:
        return None
    return CurveView(SETPOINT_CURVE_BASE + setpoint_id, issued_at, _CURVES[mode][0], _percent(points))


def setpoint_curve_link(mode: str) -> str:
    """The DERControlBase element that links a set point's curve ("" for a mode without one)."""
    return _CURVES[mode][1] if mode in _CURVES else ""


def _percent(points: list[Any]) -> tuple[tuple[float, float], ...]:
    return tuple((float(x) * 100.0, float(y) * 100.0) for x, y in points)


def _points(params: Any, key: str = "curve") -> list[Any]:
    """The settings' curve, if it is one a DERCurve can carry (2 to MAX_CURVE_POINTS points)."""
    points = params.get(key) if isinstance(params, dict) else None
    return points if isinstance(points, list) and 2 <= len(points) <= MAX_CURVE_POINTS else []
