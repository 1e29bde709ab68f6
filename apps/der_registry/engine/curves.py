"""Curves a DER follows (IEEE 1547-2018 §5.3.3–5.3.4 and §5.4.2): their axes, the standard's
default curves and the check every curve passes before it is stored — as a DER's default mode
(`mode_settings.py`) or with a set point (`setpoint_params.py`).

Kept as the registry keeps them: volt–var (V pu, Q as a fraction of the available var, + injected),
watt–var (P as a fraction of the active power rating, Q as for volt–var), volt–watt (V pu, P as a
fraction of the active power rating)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from apps.der_registry.engine.ieee1547 import ControlMode, mode_label

MAX_CURVE_POINTS = 10  # a 2030.5 DERCurve carries at most 10 CurveData
# IEEE 1547-2018 Table 8, category B default volt–var curve (V pu, Q as a fraction of the available var).
VOLT_VAR_1547_B = ((0.92, 0.44), (0.98, 0.0), (1.02, 0.0), (1.08, -0.44))
VOLT_WATT = "volt_watt"  # the volt–watt curve's key in mode_params, beside any default mode
VOLT_WATT_WORDS = "Volt–watt curve"  # how its refusals begin
# IEEE 1547-2018 Table 10 default volt–watt curve (V pu, P as a fraction of the rating): full output
# up to 1.06 pu, 20 % at 1.10 pu.
VOLT_WATT_1547 = ((1.06, 1.0), (1.10, 0.2))
# IEEE 1547-2018 Table 9, category B default watt–var curve (P as a fraction of the rating, Q as
# a fraction of the available var): none up to half output, absorbing 44 % at full output.
WATT_VAR_1547_B = ((0.2, 0.0), (0.5, 0.0), (1.0, -0.44))
CURVE_MODES = (ControlMode.VOLT_VAR.value, ControlMode.WATT_VAR.value)  # the reactive modes with a curve
DEFAULT_CURVES = {ControlMode.VOLT_VAR.value: VOLT_VAR_1547_B, ControlMode.WATT_VAR.value: WATT_VAR_1547_B}


@dataclass(frozen=True)
class _Axes:
    x: str
    x_unit: str
    x_low: float
    x_high: float
    y: str
    y_words: str
    y_low: float
    why: str  # why y may not rise with x


_REACTIVE = (
    "Q",
    "a fraction of the available var",
    -1.0,
    "injecting more as the voltage or output rises would push the voltage further up",
)
_AXES = {
    ControlMode.VOLT_VAR.value: _Axes("voltage", "pu", 0.5, 1.5, *_REACTIVE),
    ControlMode.WATT_VAR.value: _Axes("P", "of the rating", 0.0, 1.0, *_REACTIVE),
    VOLT_WATT: _Axes(
        "voltage",
        "pu",
        0.5,
        1.5,
        "P",
        "a fraction of the active power rating",
        0.0,
        "volt–watt curtails as the voltage rises",
    ),
}


def curve_problem(mode: str, curve: Any) -> str:
    """A curve's points against its mode's axes: 2–10 points, x rising within range, y never rising."""
    a = _AXES[mode]
    label = "volt–watt" if mode == VOLT_WATT else mode_label(mode)
    if not isinstance(curve, list | tuple) or not 2 <= len(curve) <= MAX_CURVE_POINTS:
        return f"A {label} curve is a list of 2 to {MAX_CURVE_POINTS} points [{a.x}, {a.y}]."
    points = []
    for i, point in enumerate(curve, 1):
        numbers = point if isinstance(point, list | tuple) and len(point) == 2 else ()
        if not numbers or not all(_number(v) for v in numbers):
            return f"Point {i} of the curve must be two numbers [{a.x}, {a.y}], not {point!r}."
        points.append((float(numbers[0]), float(numbers[1])))
    for i, (x, y) in enumerate(points, 1):
        if not a.x_low <= x <= a.x_high:
            return f"Point {i}: the {a.x} must be between {a.x_low:g} and {a.x_high:g} {a.x_unit}, not {x:g}."
        if not a.y_low <= y <= 1.0:
            return f"Point {i}: {a.y} is {a.y_words}, between {a.y_low:g} and 1, not {y:g}."
    for i, ((x0, y0), (x1, y1)) in enumerate(itertools.pairwise(points), 2):
        if x1 <= x0:
            return f"Point {i}: the {a.x} must rise from point to point ({x1:g} after {x0:g})."
        if y1 > y0:
            return (
                f"Point {i}: {a.y} rises from {y0:g} to {y1:g} as the {a.x} rises; it must stay level or "
                f"fall ({a.why})."
            )
    return ""


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
