"""Planner studies built from capability curves (seed 004 §V): transmission-voltage sweep with the
OLTC decoupling range, day-ahead hourly curves, IEEE 1547-2018 compliance options, DER phase
unbalance, penetration and inverter-oversize sweeps. Each returns plain JSON-able series."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from apps.capability.engine.curve import CapabilityCurve, capability_curve, to_json
from apps.capability.engine.linear_feeder import head_tap_range
from apps.capability.engine.pv import PVUnit, add_pv
from apps.dms.engine.network import Network

Progress = Callable[[float], bool]  # called with the share done; False means "stop"
NOMINAL_V_TM_PU = 1.0  # the transmission voltage of the curve a DSO reports (seed 004 §IV-D)
# A normalized residential load shape and a clear-sky PV shape, hour 0–23 (editable per study).
LOAD_SHAPE = (
    0.62,
    0.58,
    0.56,
    0.55,
    0.56,
    0.60,
    0.68,
    0.76,
    0.80,
    0.80,
    0.79,
    0.78,
    0.77,
    0.77,
    0.78,
    0.81,
    0.87,
    0.95,
    1.00,
    0.99,
    0.94,
    0.85,
    0.75,
    0.67,
)
PV_SHAPE = (
    0,
    0,
    0,
    0,
    0,
    0,
    0.02,
    0.12,
    0.32,
    0.52,
    0.70,
    0.84,
    0.92,
    0.93,
    0.86,
    0.72,
    0.53,
    0.32,
    0.12,
    0.02,
    0,
    0,
    0,
    0,
)
# IEEE 1547-2018: Q of 44 % of the rating at full P needs an inverter of 1/√(1 − 0.44²) ≈ 1.113 ×
# the PV (no headroom), or 1 − √(1 − 0.44²) ≈ 10.2 % headroom without oversize.
COMPLIANCE_OVERSIZE = 1 / math.sqrt(1 - 0.44**2)
COMPLIANCE_HEADROOM = 1 - math.sqrt(1 - 0.44**2)


def _series(label: str, doc: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"label": label, **doc, **extra}


def _run(cases: Sequence[tuple[str, Callable[[], dict[str, Any]]]], progress: Progress | None) -> list[Any]:
    out = []
    for i, (_label, compute) in enumerate(cases):
        out.append(compute())
        if progress is not None and not progress((i + 1) / len(cases)):
            break
    return out


def secondary_voltages(curve: CapabilityCurve) -> list[float]:
    """The optimal OLTC secondary voltages v0* = r·v_tm (pu) of every solution on the curve."""
    return [
        r * curve.v_tm
        for point in curve.points
        for solution in (point.min, point.max)
        if solution is not None
        for r in solution.taps.values()
    ]


def decoupling_range(v0_pu: Sequence[float], tap_range: tuple[float, float]) -> tuple[float, float] | None:
    """v_tm range over which the OLTC, r_min ≤ r ≤ r_max, still reaches every optimal secondary
    voltage v0* of the curve, which therefore stays as it is (seed 004 eq. 26 for each v0*:
    v0*/r_max ≤ v_tm ≤ v0*/r_min); None without any v0* or when no v_tm reaches them all."""
    # Not [0.95/r_max, 1.05/r_min]: at those ends only the band's edge is reachable at the head,
    # and the voltage drop and rise along the feeder need more.
    if not v0_pu:
        return None
    r_min, r_max = tap_range
    low, high = max(v0_pu) / r_max, min(v0_pu) / r_min
    return (low, high) if low <= high else None


def vtm_sweep(
    net: Network,
    units: Sequence[PVUnit],
    v_tms: Sequence[float],
    headrooms: Sequence[float],
    *,
    sides: int = 16,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Curves at each v_tm, and the decoupling range around the curve at the nominal v_tm (the one
    a DSO reports, seed 004 §IV-D): within it the OLTC makes the curve independent of v_tm."""
    if not v_tms or any(not v > 0 for v in v_tms):
        raise ValueError("Every transmission voltage v_tm must be greater than 0 pu.")
    curves: dict[float, CapabilityCurve] = {}

    def at(v: float) -> dict[str, Any]:
        curves[v] = capability_curve(net, units, headrooms, v_tm=v, sides=sides)
        return _series(f"v_tm {v:.3f} pu", to_json(curves[v]), v_tm=v)

    series = _run([(f"{v}", partial(at, v)) for v in v_tms], progress)
    head = [t for t in net.transformers if t.is_feeder_head]
    if len(series) < len(v_tms) or not head:  # stopped, or no OLTC to decouple anything
        return {"series": series, "decoupling_range": None}
    nominal = curves.get(NOMINAL_V_TM_PU) or capability_curve(
        net, units, headrooms, v_tm=NOMINAL_V_TM_PU, sides=sides
    )
    v0 = secondary_voltages(nominal)
    band = decoupling_range(v0, head_tap_range(head))
    return {
        "series": series,
        "decoupling_range": [round(x, 6) for x in band] if band else None,
        "secondary_v0_pu": [round(min(v0), 6), round(max(v0), 6)] if v0 else None,
    }


def day_ahead(
    net: Network,
    units: Sequence[PVUnit],
    headrooms: Sequence[float],
    *,
    load_shape: Sequence[float] = LOAD_SHAPE,
    pv_shape: Sequence[float] = PV_SHAPE,
    sides: int = 16,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """24 hourly curves: loads × load_shape[h], available PV × pv_shape[h]."""
    if len(load_shape) != 24 or len(pv_shape) != 24:
        raise ValueError("A day-ahead profile needs 24 hourly values.")
    if any(not 0 < x <= 3 for x in load_shape) or any(not 0 <= x <= 1.5 for x in pv_shape):
        raise ValueError("Load shape values must lie in (0, 3] and PV shape values in [0, 1.5].")

    def hour(h: int) -> dict[str, Any]:
        scaled = [replace(u, p_avail_kw=u.p_avail_kw * pv_shape[h]) for u in units]
        curve = capability_curve(net, scaled, headrooms, sides=sides, load_scale=load_shape[h])
        return _series(f"{h:02d}:00", to_json(curve), hour=h, load_scale=load_shape[h], pv_share=pv_shape[h])

    return {"series": _run([(f"{h:02d}", partial(hour, h)) for h in range(24)], progress)}


def compliance_options(
    net: Network,
    *,
    penetration: float,
    count: int,
    seed: int,
    sides: int = 16,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The two IEEE 1547-2018 ways to 44 % reactive capability at full output."""

    def option(label: str, oversize: float, headroom: float) -> dict[str, Any]:
        units = add_pv(net, penetration=penetration, count=count, oversize=oversize, seed=seed)
        curve = to_json(capability_curve(net, units, [headroom], sides=sides))
        rating = sum(u.s_rated_kva for u in units)
        return _series(
            label,
            curve,
            oversize=oversize,
            headroom=headroom,
            inverter_kva=round(rating, 1),
            der_count=len(units),
        )

    cases = [
        (
            "oversize",
            lambda: option(f"oversize {COMPLIANCE_OVERSIZE:.3f}, no headroom", COMPLIANCE_OVERSIZE, 0.0),
        ),
        (
            "headroom",
            lambda: option(
                f"{COMPLIANCE_HEADROOM:.1%} headroom, no oversize", 1.0, round(COMPLIANCE_HEADROOM, 4)
            ),
        ),
    ]
    return {"series": _run(cases, progress)}


def unbalance(
    net: Network,
    headrooms: Sequence[float],
    *,
    penetration: float,
    count: int,
    oversize: float,
    seed: int,
    sides: int = 16,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Balanced PV, then 50/25/25, 60/20/20 and 70/15/15 on each phase in turn (seed 004 Table IV)."""
    scenarios: list[tuple[str, tuple[float, float, float]]] = [("balanced", (1 / 3, 1 / 3, 1 / 3))]
    for major in (0.5, 0.6, 0.7):
        for phase in (1, 2, 3):
            shares = tuple(major if p == phase else (1 - major) / 2 for p in (1, 2, 3))
            scenarios.append((f"{major:.0%} on phase {phase}", shares))  # type: ignore[arg-type]

    def case(label: str, shares: tuple[float, float, float]) -> dict[str, Any]:
        units = add_pv(
            net, penetration=penetration, count=count, oversize=oversize, seed=seed, phase_shares=shares
        )
        return _series(
            label,
            to_json(capability_curve(net, units, headrooms, sides=sides)),
            phase_shares=list(shares),
            der_count=len(units),
        )

    return {"series": _run([(lbl, partial(case, lbl, s)) for lbl, s in scenarios], progress)}


def penetration_oversize(
    net: Network,
    headrooms: Sequence[float],
    *,
    count: int,
    seed: int,
    penetrations: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0),
    oversizes: Sequence[float] = (1.0, 1.1, 1.2),
    sides: int = 16,
    progress: Progress | None = None,
) -> dict[str, Any]:
    def case(pen: float, over: float) -> dict[str, Any]:
        units = add_pv(net, penetration=pen, count=count, oversize=over, seed=seed)
        return _series(
            f"penetration {pen:.0%}, oversize {over:.1f}",
            to_json(capability_curve(net, units, headrooms, sides=sides)),
            penetration=pen,
            oversize=over,
            der_count=len(units),
        )

    grid = [(f"{p}-{o}", partial(case, p, o)) for p in penetrations for o in oversizes]
    return {"series": _run(grid, progress)}
