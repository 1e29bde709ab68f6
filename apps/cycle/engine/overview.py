"""What the operator's overview says about one DSO interface, free of Django: its TSO–DSO traffic
light (seed 001's flexibility signal) and where its range, request and achievement sit on a bar.

* red — unavailable: the EMS–DMS link is down, the DMS is silent, or its last answer says it could
  not dispatch;
* amber — constrained: in fallback, short of the request, or voltages left outside their limits;
* green — the DSO offers its full flexibility and delivered what it was asked."""

from __future__ import annotations

from dataclasses import dataclass

SHORTFALL_FLOOR_KVAR = 1.0  # less than this short is rounding, not a constraint
LIGHT_LABEL = {
    "green": ("●", "Full flexibility"),
    "amber": ("▲", "Constrained"),
    "red": ("■", "Unavailable"),
}


@dataclass(frozen=True)
class DsoState:
    link_down: bool
    dms_silent: bool
    dms_healthy: bool | None  # None: no answer yet
    in_fallback: bool
    shortfall_kvar: float | None
    violations_left: int | None


def traffic_light(s: DsoState) -> tuple[str, str]:
    """(colour, the reason in words)."""
    if s.link_down:
        return "red", "EMS–DMS link down"
    if s.dms_silent:
        return "red", "DMS not heard from"
    if s.dms_healthy is False:
        return "red", "the DMS could not dispatch"
    if s.dms_healthy is None:
        return "red", "no answer from the DMS to the last request"
    if s.in_fallback:
        return "amber", "in fallback"
    if s.shortfall_kvar is not None and s.shortfall_kvar >= SHORTFALL_FLOOR_KVAR:
        return "amber", f"{s.shortfall_kvar:.0f} kvar short"
    if s.violations_left:
        return "amber", f"{s.violations_left} voltage violations left"
    return "green", "delivered within its range"


@dataclass(frozen=True)
class Bar:
    """Positions in percent of the bar: the range [low, high], the request and the achievement."""

    low_pct: float
    width_pct: float
    request_pct: float
    achieved_pct: float | None
    zero_pct: float


def range_bar(q_min: float, q_max: float, request: float, achieved: float | None) -> Bar:
    """A bar spanning the range, the request, the achievement and zero, with 5 % margin each side."""
    values = [q_min, q_max, request, 0.0] + ([achieved] if achieved is not None else [])
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    low, span = low - 0.05 * span, span * 1.1

    def at(x: float) -> float:
        return round(100.0 * (x - low) / span, 2)

    return Bar(
        at(q_min),
        round(at(q_max) - at(q_min), 2),
        at(request),
        at(achieved) if achieved is not None else None,
        at(0.0),
    )
