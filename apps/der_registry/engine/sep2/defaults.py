"""A DER's default mode (registry: `default_mode`, `mode_params`; engine/mode_settings.py) as the
2030.5 resources that carry it: the DefaultDERControl of its program and the DERCurve it follows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.der_registry.engine.ieee1547 import mode_label
from apps.der_registry.engine.mode_settings import MAX_CURVE_POINTS
from apps.der_registry.engine.sep2.model import (
    CURVE_ID,
    CURVE_VOLT_VAR,
    CURVE_WATT_VAR,
    CurveView,
    DefaultControlView,
)

_CURVES = {"volt_var": (CURVE_VOLT_VAR, "opModVoltVar"), "watt_var": (CURVE_WATT_VAR, "opModWattVar")}


def default_control(der_id: int, mode: str, params: Any) -> DefaultControlView:
    """Connected and energized, plus the mode's setting (checked when it was set)."""
    settings = params if isinstance(params, dict) else {}
    label = f"Default: {mode_label(mode)}" if mode else "Connected, energized"
    if mode == "constant_pf" and isinstance(settings.get("pf"), int | float):
        return DefaultControlView(der_id, label, fixed_pf=float(settings["pf"]))
    if mode == "constant_var" and isinstance(settings.get("q_kvar"), int | float):
        return DefaultControlView(der_id, label, target_var=float(settings["q_kvar"]) * 1000.0)
    if mode in _CURVES and _points(settings):
        return DefaultControlView(der_id, label, curve=_CURVES[mode][1])
    return DefaultControlView(der_id, label)


def curves(mode: str, params: Any, changed_at: dt.datetime) -> list[CurveView]:
    """The one curve of a volt–var or watt–var default mode, if it has one. The registry keeps a
    curve as (V pu, or P as a fraction of the rating; Q as a fraction of the available var); 2030.5
    takes percentages (xMultiplier and yMultiplier -2)."""
    points = _points(params)
    if mode not in _CURVES or not points:
        return []
    pct = tuple((float(x) * 100.0, float(q) * 100.0) for x, q in points)
    return [CurveView(CURVE_ID, changed_at, _CURVES[mode][0], pct)]


def _points(params: Any) -> list[Any]:
    """The settings' curve, if it is one a DERCurve can carry (2 to MAX_CURVE_POINTS points)."""
    points = params.get("curve") if isinstance(params, dict) else None
    return points if isinstance(points, list) and 2 <= len(points) <= MAX_CURVE_POINTS else []
