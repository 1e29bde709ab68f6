"""A DER's default mode and its settings: what the DER does on its own while no set point is in force
(IEEE 1547-2018 §5.3, the reactive power control functions). Kept on the DER as `default_mode` and
`mode_params`; a 2030.5 device is given them as its DefaultDERControl (with the curve a volt-var or
watt-var mode follows as a DERCurve).

Settings by mode (per unit and fractions inside, as the registry keeps them):

* active–reactive (the CReST mode) and volt–var with no curve given: none;
* constant power factor: `pf`, signed by the EEI convention (negative while absorbing vars), one the
  DER's reactive ratings hold at its active power rating;
* constant var: `q_kvar`, within the DER's reactive ratings (+ injected);
* volt–var: `curve`, 2–10 points (V pu, Q as a fraction of the available var, + injected), voltages
  rising, Q never rising with them — a curve that injects more as the voltage rises would push the
  voltage further up;
* watt–var: `curve`, 2–10 points (P as a fraction of the active power rating, Q as for volt–var),
  P rising from 0 to 1, Q never rising with it.

Beside any of them (or none), `volt_watt`: the volt–watt curve (IEEE 1547-2018 §5.4.2, an active
power function that runs together with the reactive one), 2–10 points (V pu, P as a fraction of the
active power rating), voltages rising, P never rising with them. None: volt–watt off.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from apps.der_registry.engine.ieee1547 import ControlMode, mode_label
from apps.der_registry.engine.setpoint_params import ReactiveRoom, power_factor_problem

MAX_CURVE_POINTS = 10  # a 2030.5 DERCurve carries at most 10 CurveData
SETTINGS: dict[str, tuple[str, ...]] = {
    ControlMode.ACTIVE_REACTIVE.value: (),
    ControlMode.CONSTANT_PF.value: ("pf",),
    ControlMode.CONSTANT_VAR.value: ("q_kvar",),
    ControlMode.VOLT_VAR.value: ("curve",),
    ControlMode.WATT_VAR.value: ("curve",),
}
REQUIRED = {ControlMode.CONSTANT_PF.value, ControlMode.CONSTANT_VAR.value, ControlMode.WATT_VAR.value}
# IEEE 1547-2018 Table 8, category B default volt–var curve (V pu, Q as a fraction of the available var).
VOLT_VAR_1547_B = ((0.92, 0.44), (0.98, 0.0), (1.02, 0.0), (1.08, -0.44))
VOLT_WATT = "volt_watt"  # the volt–watt curve's key in mode_params, beside any default mode
VOLT_WATT_WORDS = "Volt–watt curve"  # how its refusals begin
# IEEE 1547-2018 Table 10 default volt–watt curve (V pu, P as a fraction of the rating): full output
# up to 1.06 pu, 20 % at 1.10 pu.
VOLT_WATT_1547 = ((1.06, 1.0), (1.10, 0.2))


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


def problem(mode: str, params: Any, room: ReactiveRoom) -> str:
    """Why these settings cannot be the DER's for this mode ("": no default mode), in words; ""
    when they can."""
    if mode and mode not in SETTINGS:
        return f"{mode!r} is not a control mode; the modes are {', '.join(map(mode_label, SETTINGS))}."
    if not isinstance(params, dict):
        return 'The settings are an object such as {"pf": 0.95}, not a list or a value.'
    if VOLT_WATT in params and (trouble := curve_problem(VOLT_WATT, params[VOLT_WATT])):
        return f"{VOLT_WATT_WORDS}: {trouble}"
    params = {k: v for k, v in params.items() if k != VOLT_WATT}
    if not mode:
        return (
            "Without a default mode there are no settings to keep (but a volt–watt curve)." if params else ""
        )
    takes = SETTINGS[mode]
    if extra := sorted(set(map(str, params)) - set(takes)):
        what = f"only {', '.join(takes)}" if takes else "no settings"
        return f"The {mode_label(mode)} mode takes {what} (not {', '.join(extra)})."
    if mode in REQUIRED and not params:
        return f"The {mode_label(mode)} mode needs its {takes[0]}."
    if "pf" in params:
        return power_factor_problem(params["pf"], room)
    if "q_kvar" in params:
        return _q_problem(params["q_kvar"], room)
    if "curve" in params:
        return curve_problem(mode, params["curve"])
    return ""


def _q_problem(value: Any, room: ReactiveRoom) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"Q must be a number of kvar, not {value!r}."
    if not -room.q_absorbed_kvar <= value <= room.q_injected_kvar:
        return (
            f"Q must be between -{room.q_absorbed_kvar:g} and {room.q_injected_kvar:g} kvar "
            f"(the DER's reactive ratings), not {value:g} kvar."
        )
    return ""


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


def normalised(params: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored: numbers as floats, a curve as lists of two floats."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        curve = key in ("curve", VOLT_WATT)
        out[key] = [[float(x), float(y)] for x, y in value] if curve else float(value)
    return out
