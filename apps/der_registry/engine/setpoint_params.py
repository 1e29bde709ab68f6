"""A set point's mode parameters, checked before the set point is recorded.

* Constant power factor: its power factor, signed by the EEI convention (negative while the DER
  absorbs vars, as 2030.5-2013's opModFixedPF carries it). The DER must be able to hold it at the
  active power it may produce: the vars it implies, P·tan(acos|pf|), within the DER's reactive
  maximum that way.
* Volt–var and watt–var: the curve to follow (`engine/curves.py`). Optional: without one, a DER
  that is sent curves (over 2030.5) is sent its own default mode's curve of that kind, else the
  IEEE 1547-2018 category B default (`filled`). A DNP3 DER is sent no curve: it follows its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.der_registry.engine.curves import CURVE_MODES, DEFAULT_CURVES, curve_problem
from apps.der_registry.engine.ieee1547 import ControlMode, mode_label

PARAMETERS: dict[str, tuple[str, ...]] = {  # mode → what it takes
    ControlMode.CONSTANT_PF.value: ("pf",),
    ControlMode.VOLT_VAR.value: ("curve",),
    ControlMode.WATT_VAR.value: ("curve",),
}


@dataclass(frozen=True)
class ReactiveRoom:
    """What a DER can do that a power factor is judged against (effective ratings, kW and kvar)."""

    p_kw: float  # the P limit of the set point, else the active power rating
    p_words: str  # "the 10 kW rating", "the 5 kW limit"
    q_injected_kvar: float
    q_absorbed_kvar: float

    @classmethod
    def of(cls, ratings: Mapping[str, float | None], p_limit_kw: float | None = None) -> ReactiveRoom:
        """From a DER's effective ratings (kW, kvar; None: not rated), at a P limit if one is given."""
        rated_kw = float(ratings["active_power_kw"] or 0.0)
        return cls(
            rated_kw if p_limit_kw is None else p_limit_kw,
            f"the {rated_kw:g} kW rating" if p_limit_kw is None else f"the {p_limit_kw:g} kW limit",
            float(ratings["reactive_injected_kvar"] or 0.0),
            float(ratings["reactive_absorbed_kvar"] or 0.0),
        )


def problem(mode: str, params: Any, room: ReactiveRoom) -> str:
    """Why these parameters cannot go with a set point in this mode, in words; "" when they can."""
    if not isinstance(params, dict):
        return 'A set point\'s parameters are an object such as {"pf": 0.95}, not a list or a value.'
    label = mode_label(mode)
    takes = PARAMETERS.get(mode, ())
    if not takes:
        got = ", ".join(sorted(map(str, params)))
        return f"The {label} mode takes no parameters in a set point (got {got})." if params else ""
    if extra := sorted(set(params) - set(takes)):
        return f"The {label} mode takes only {', '.join(takes)} (not {', '.join(extra)})."
    if mode in CURVE_MODES:
        return curve_problem(mode, params["curve"]) if "curve" in params else ""
    if "pf" not in params:
        return (
            f"A {label.lower()} set point needs its power factor: params.pf, e.g. 0.95 while "
            "injecting vars or -0.95 while absorbing them."
        )
    return power_factor_problem(params["pf"], room)


def filled(mode: str, params: dict[str, Any], own_mode: str, own_params: Any) -> dict[str, Any]:
    """A curve mode's set point as a DER that is sent curves gets it: with the curve given, else the
    DER's own default mode's curve when that mode is the same, else the IEEE 1547 default. Other
    modes' parameters as they are."""
    if mode not in CURVE_MODES:
        return params
    own = own_params.get("curve") if own_mode == mode and isinstance(own_params, dict) else None
    curve = params.get("curve") or own or DEFAULT_CURVES[mode]
    return {**params, "curve": [[float(x), float(y)] for x, y in curve]}


def min_power_factor(p_kw: float, q_max_kvar: float) -> float:
    """The lowest power factor at which P kW needs no more than q_max kvar."""
    return 1.0 if p_kw <= 0 else p_kw / math.hypot(p_kw, q_max_kvar)


def power_factor_problem(value: Any, room: ReactiveRoom) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"The power factor must be a number, not {value!r}."
    pf = float(value)
    injecting = pf >= 0
    q_max = room.q_injected_kvar if injecting else room.q_absorbed_kvar
    lowest = {
        side: math.ceil(min_power_factor(room.p_kw, q) * 1000) / 1000
        for side, q in (("inj", room.q_injected_kvar), ("abs", room.q_absorbed_kvar))
    }
    if not math.isfinite(pf) or pf == 0 or abs(pf) > 1:
        return (
            f"The power factor must be between {lowest['inj']:g} and 1 (injecting vars) or "
            f"-{lowest['abs']:g} and -1 (absorbing vars), not {value!r}."
        )
    q_kvar = room.p_kw * math.tan(math.acos(abs(pf)))
    if q_kvar > q_max + 1e-6:
        way = "inject" if injecting else "absorb"
        return (
            f"A power factor of {pf:g} would need {q_kvar:.4g} kvar at {room.p_words}; the DER can "
            f"{way} at most {q_max:g} kvar (a power factor of {'' if injecting else '-'}"
            f"{lowest['inj' if injecting else 'abs']:g} or nearer 1)."
        )
    return ""
