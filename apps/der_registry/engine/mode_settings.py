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

import math
from typing import Any

from apps.der_registry.engine.curves import VOLT_WATT, VOLT_WATT_WORDS, curve_problem
from apps.der_registry.engine.ieee1547 import ControlMode, mode_label
from apps.der_registry.engine.setpoint_params import ReactiveRoom, power_factor_problem

SETTINGS: dict[str, tuple[str, ...]] = {
    ControlMode.ACTIVE_REACTIVE.value: (),
    ControlMode.CONSTANT_PF.value: ("pf",),
    ControlMode.CONSTANT_VAR.value: ("q_kvar",),
    ControlMode.VOLT_VAR.value: ("curve",),
    ControlMode.WATT_VAR.value: ("curve",),
}
REQUIRED = {ControlMode.CONSTANT_PF.value, ControlMode.CONSTANT_VAR.value, ControlMode.WATT_VAR.value}


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


def normalised(params: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored: numbers as floats, a curve as lists of two floats."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        curve = key in ("curve", VOLT_WATT)
        out[key] = [[float(x), float(y)] for x, y in value] if curve else float(value)
    return out
