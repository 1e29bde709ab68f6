"""Capability-curve benchmark: the engine's curve times on IEEE 123 and a 10,000 node-phase feeder,
a day-ahead run, and the same curve from a cvxpy + Clarabel peer with the exact inverter cone.

    .venv/bin/python benchmarks/capability.py [--quick] [--repeat N]

Pure engine (apps.capability.engine), no Django and no database. PV is placed the paper's way
(`add_pv`: penetration 0.9 of the peak load, inverters 1.1 × the PV peak, seed 1): 100 single-phase
units on IEEE 123, 1,000 on the synthetic feeder of `powerflow.py` (IEEE 123 with replicated
laterals, loads ÷ (K+1)). Every curve is 0:1:0.05 (21 headroom points) × 2 directions.

Day-ahead: 24 hourly curves; loads × a normalized residential shape (peak 1.0 at 19:00) and every
unit's available PV × a clear-sky bell (sunrise 06:00, sunset 20:00, sin^1.5, sampled at the middle
of the hour; zero at night, where the curve is still computed, with no available PV).

Times are wall clock (time.perf_counter); the single-curve figure is the median of `--repeat` runs
after one cold run (imports, first OpenDSS compile), the others one run each. `--quick` is a smoke
run at reduced sizes, against no target. Exit code 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from _capability_peer import PeerCurve, peer_curve
from powerflow import copies_needed, fmt_time, load_ieee123, machine, node_phases, synthetic

from apps.capability.engine import der_opf, slp
from apps.capability.engine.curve import CapabilityCurve, capability_curve, headroom_range
from apps.capability.engine.linear_feeder import LinearFeeder
from apps.capability.engine.pv import PVUnit, add_pv
from apps.dms.engine.network import Network

TARGET_S = {"single": 1.0, "day_ahead": 20.0, "synthetic": 30.0}
HEADROOMS = headroom_range(0.0, 1.0, 0.05)
PENETRATION, OVERSIZE, SEED = 0.9, 1.1, 1
LOAD_SHAPE = (0.55, 0.50, 0.47, 0.46, 0.47, 0.52, 0.62, 0.72, 0.74, 0.70, 0.67, 0.66,
              0.66, 0.66, 0.67, 0.70, 0.77, 0.88, 0.97, 1.00, 0.97, 0.88, 0.76, 0.64)  # fmt: skip
SUNRISE, SUNSET = 6.0, 20.0
AT_LIMIT_PU = 1e-4  # a voltage this close to 0.95 / 1.05 pu counts as at its limit


@dataclasses.dataclass
class Figure:
    label: str
    seconds: float
    target_s: float | None
    notes: list[str] = dataclasses.field(default_factory=list)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed single-curve runs (default 5, quick 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 4 hours, 1,500 node-phases, 5 points"
    )
    args = parser.parse_args(argv)
    args.repeat = max(1, args.repeat or (2 if args.quick else 5))
    return args


def pv_shape(hour: int) -> float:
    """Clear-sky bell at the middle of `hour`: sin(π (t − sunrise) / daylight)^1.5, 0 at night."""
    t = hour + 0.5
    if not SUNRISE < t < SUNSET:
        return 0.0
    return math.sin(math.pi * (t - SUNRISE) / (SUNSET - SUNRISE)) ** 1.5


def place_pv(net: Network, count: int) -> list[PVUnit]:
    return add_pv(net, penetration=PENETRATION, count=count, oversize=OVERSIZE, seed=SEED)


# --- measuring ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def breakdown() -> Iterator[dict[str, float]]:
    """Seconds spent in the engine's LP solves, LP builds, refreshed power flows and Jacobian while
    the block runs (their functions wrapped, then restored)."""
    spots: dict[str, tuple[Any, str]] = {
        "HiGHS solves": (der_opf, "_run"),
        "LP builds": (slp, "build_der_opf"),
        "refreshed power flows": (LinearFeeder, "evaluate"),
        "Jacobian (sensitivities)": (LinearFeeder, "_jacobian"),
    }
    spent = dict.fromkeys(spots, 0.0)
    depth = [0]  # nested calls (the Jacobian's power flows) count once, in the outer one
    originals = [(owner, name, getattr(owner, name)) for owner, name in spots.values()]
    for label, (owner, name, fn) in zip(spots, originals, strict=True):
        setattr(owner, name, _stopwatch(fn, spent, label, depth))
    try:
        yield spent
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)


def _stopwatch(
    fn: Callable[..., Any], spent: dict[str, float], label: str, depth: list[int]
) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if depth[0]:
            return fn(*args, **kwargs)
        depth[0] += 1
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - started
            depth[0] -= 1

    return wrapped


def timed_curve(
    net: Network, units: Sequence[PVUnit], headrooms: Sequence[float], load_scale: float = 1.0
) -> tuple[CapabilityCurve, float, dict[str, float]]:
    """One curve: the curve, its wall time and where the time went."""
    with breakdown() as spent:
        started = time.perf_counter()
        curve = capability_curve(net, units, headrooms, load_scale=load_scale)
        seconds = time.perf_counter() - started
    return curve, seconds, spent


def curve_notes(curve: CapabilityCurve, seconds: float, spent: dict[str, float]) -> list[str]:
    feasible = sum(p.feasible for p in curve.points)
    rows = at_limit_rows(curve)
    iterations = [s.iterations for p in curve.points for s in (p.min, p.max) if s is not None]
    where = ", ".join(f"{k} {fmt_time(v)}" for k, v in spent.items())
    rest = seconds - sum(spent.values())
    return [
        f"setup {fmt_time(curve.setup_ms / 1e3)}, solve {fmt_time(curve.solve_ms / 1e3)} (all points)",
        f"where: {where}, other {fmt_time(rest)}",
        f"{feasible}/{len(curve.points)} points feasible; SLP iterations per direction "
        f"{min(iterations, default=0)}–{max(iterations, default=0)}, total {sum(iterations)}",
        f"voltage rows at a limit in any answer: {rows[0]:,} of {rows[1]:,}",
    ]


def at_limit_rows(curve: CapabilityCurve) -> tuple[int, int]:
    """(constrained node-phases within AT_LIMIT_PU of 0.95 or 1.05 pu in some answer, all of them)."""
    hit: set[str] = set()
    total = 0
    for p in curve.points:
        for s in (p.min, p.max):
            if s is not None:
                total = len(s.voltages_pu)
                hit |= {k for k, v in s.voltages_pu.items() if min(v - 0.95, 1.05 - v) <= AT_LIMIT_PU}
    return len(hit), total


# --- the four measurements ----------------------------------------------------------------------------


def bench_single(
    net: Network, units: Sequence[PVUnit], repeat: int, target: float | None
) -> tuple[CapabilityCurve, Figure]:
    cold = timed_curve(net, units, HEADROOMS)[1]
    runs = sorted((timed_curve(net, units, HEADROOMS) for _ in range(repeat)), key=lambda r: r[1])
    curve, seconds, spent = runs[(len(runs) - 1) // 2]
    label = f"IEEE 123, {len(units)} PV: one curve ({len(HEADROOMS)} points × 2), median of {repeat}"
    fig = Figure(label, seconds, target, curve_notes(curve, seconds, spent))
    fig.notes.insert(0, f"cold first run {fmt_time(cold)}; runs {', '.join(fmt_time(r[1]) for r in runs)}")
    return curve, fig


def bench_day_ahead(
    net: Network, units: Sequence[PVUnit], hours: Sequence[int], target: float | None
) -> Figure:
    rows, total = [], 0.0
    for hour in hours:
        hourly = [dataclasses.replace(u, p_avail_kw=u.p_avail_kw * pv_shape(hour)) for u in units]
        curve, seconds, _ = timed_curve(net, hourly, HEADROOMS, load_scale=LOAD_SHAPE[hour])
        total += seconds
        rows.append(day_ahead_row(hour, curve, seconds))
    fig = Figure(f"day-ahead: {len(hours)} hourly curves on IEEE 123", total, target)
    fig.notes.append("hour  load×   PV×   time      feasible  q_min..q_max kvar at h=0        at h=1")
    fig.notes.extend(rows)
    return fig


def day_ahead_row(hour: int, curve: CapabilityCurve, seconds: float) -> str:
    def span(k: int) -> str:
        p = curve.points[k]
        return f"{p.q_min_kvar:8.0f}..{p.q_max_kvar:6.0f}" if p.feasible else f"{'infeasible':>16}"

    feasible = sum(p.feasible for p in curve.points)
    return (
        f"{hour:02d}   {LOAD_SHAPE[hour]:.2f}  {pv_shape(hour):.3f}  {fmt_time(seconds):>9}  "
        f"{feasible:2d}/{len(curve.points)}     {span(0)}    {span(-1)}"
    )


def bench_synthetic(base: Network, target_np: int, count: int, target: float | None) -> Figure:
    copies = copies_needed(base, target_np)
    net = synthetic(base, copies)
    units = place_pv(net, count)
    curve, seconds, spent = timed_curve(net, units, HEADROOMS)
    label = (
        f"synthetic {node_phases(net):,} node-phases (IEEE 123 + {copies} laterals), "
        f"{len(units)} PV: one curve"
    )
    fig = Figure(label, seconds, target, curve_notes(curve, seconds, spent))
    slow = sorted(curve.points, key=lambda p: -p.solve_ms)[:3]
    fig.notes.append(
        "slowest points: " + ", ".join(f"h={p.headroom:.2f} {fmt_time(p.solve_ms / 1e3)}" for p in slow)
    )
    return fig


def bench_peer(
    net: Network, units: Sequence[PVUnit], curve: CapabilityCurve, headrooms: Sequence[float]
) -> Figure:
    started = time.perf_counter()
    feeder = LinearFeeder(net, units, v_tm=1.0, load_scale=1.0)
    calibration = time.perf_counter() - started
    cone = peer_curve(feeder, headrooms, cone=True)
    polygon = peer_curve(feeder, headrooms, cone=False)
    seconds = calibration + cone.build_s + cone.solve_s
    fig = Figure(
        f"peer: cvxpy + Clarabel, exact cone, one linearization ({len(headrooms)} points × 2)", seconds, None
    )
    fig.notes.append(
        f"calibration (LinearFeeder, shared with the engine) {fmt_time(calibration)}, problem build "
        f"{fmt_time(cone.build_s)}, first point (canonicalization + solve) {fmt_time(cone.first_solve_s)}, "
        f"all points {fmt_time(cone.solve_s)} (Clarabel itself {fmt_time(cone.solver_s)})"
    )
    fig.notes.extend(compare(curve, cone, polygon))
    return fig


# --- peer against engine --------------------------------------------------------------------------------


def engine_q(curve: CapabilityCurve, h: float) -> tuple[float | None, float | None]:
    point = min(curve.points, key=lambda p: abs(p.headroom - h))
    return point.q_min_kvar, point.q_max_kvar


def largest_gap(pairs: Sequence[tuple[float, float | None, float | None]]) -> tuple[float, float]:
    """(largest |a − b| over (h, a, b) where both exist, its headroom)."""
    gaps = [(abs(a - b), h) for h, a, b in pairs if a is not None and b is not None]
    return max(gaps, default=(math.nan, math.nan))


def compare(curve: CapabilityCurve, cone: PeerCurve, polygon: PeerCurve) -> list[str]:
    """Largest differences, engine vs peer (as asked), then the peer's own two sources of difference."""
    lows = [q for p in curve.points if (q := p.q_min_kvar) is not None]
    highs = [q for p in curve.points if (q := p.q_max_kvar) is not None]
    span = max(highs) - min(lows)
    lines = [f"curve range (engine) {min(lows):,.0f} .. {max(highs):,.0f} kvar = {span:,.0f} kvar"]
    columns: dict[str, Callable[[PeerCurve, int, int], float | None]] = {
        "LP": lambda c, side, k: (c.low, c.high)[side][k].q_kvar,
        "replayed": lambda c, side, k: (c.low, c.high)[side][k].q_refreshed_kvar,
    }
    cases = (("engine vs cone peer", None, cone), ("cone vs 16-gon peer (same linearization)", polygon, cone),
             ("engine vs 16-gon peer", None, polygon))  # fmt: skip
    for title, reference, other in cases:
        for kind, get in columns.items():
            parts = []
            for side, name in ((0, "q_min"), (1, "q_max")):
                pairs = [(h, _ref(curve, reference, get, side, k, h), get(other, side, k))
                         for k, h in enumerate(other.headrooms)]  # fmt: skip
                gap, at = largest_gap(pairs)
                parts.append(f"{name} {gap:6.1f} kvar ({100 * gap / span:.2f} %) at h={at:.2f}")
            lines.append(f"{title}, peer {kind}: " + "; ".join(parts))
    lines.append(peer_accuracy(cone, "cone"))
    lines.append(peer_accuracy(polygon, "16-gon"))
    return lines


def _ref(
    curve: CapabilityCurve,
    reference: PeerCurve | None,
    get: Callable[[PeerCurve, int, int], float | None],
    side: int,
    k: int,
    h: float,
) -> float | None:
    return engine_q(curve, h)[side] if reference is None else get(reference, side, k)


def peer_accuracy(peer: PeerCurve, name: str) -> str:
    """How far the single linearization is from the refreshed power flow at the peer's own answers."""
    gaps = [abs(p.q_kvar - p.q_refreshed_kvar) for p in (*peer.low, *peer.high)
            if p.q_kvar is not None and p.q_refreshed_kvar is not None]  # fmt: skip
    points = [p for p in (*peer.low, *peer.high) if p.q_kvar is not None]
    dq = max(gaps, default=0.0)
    dv = max((p.violation_pu or 0.0 for p in points), default=0.0)
    infeasible = 2 * len(peer.headrooms) - len(points)
    return (
        f"{name} peer replayed in the refreshed power flow: |Q_LP − Q| ≤ {dq:.1f} kvar, "
        f"largest ANSI violation {dv:.4f} pu; {infeasible} infeasible answers"
    )


# --- output ---------------------------------------------------------------------------------------------


def print_figure(fig: Figure, quick: bool) -> None:
    if fig.target_s is None:
        verdict = "(no target)" if not quick else "(quick run: no target)"
    else:
        verdict = f"target ≤ {fmt_time(fig.target_s)}: {'PASS' if fig.seconds <= fig.target_s else 'FAIL'}"
    print(f"\n== {fig.label}\n  {fmt_time(fig.seconds)}  {verdict}")
    for note in fig.notes:
        print(f"  - {note}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(machine())
    quick = args.quick
    targets = {k: (None if quick else v) for k, v in TARGET_S.items()}
    ieee123 = load_ieee123()
    units = place_pv(ieee123, 100)
    pv_kw, inverter_kva = sum(u.p_avail_kw for u in units), sum(u.s_rated_kva for u in units)
    print(f"IEEE 123: {node_phases(ieee123)} node-phases, {len(units)} PV units, ", end="")
    print(f"{pv_kw:,.0f} kW PV, {inverter_kva:,.0f} kVA of inverters")
    curve, fig = bench_single(ieee123, units, args.repeat, targets["single"])
    print_figure(fig, quick)
    hours = (0, 6, 12, 18) if quick else range(24)
    print_figure(bench_day_ahead(ieee123, units, hours, targets["day_ahead"]), quick)
    print_figure(bench_peer(ieee123, units, curve, HEADROOMS[::5] if quick else HEADROOMS), quick)
    size, count = (1_500, 150) if quick else (10_000, 1_000)
    print_figure(bench_synthetic(ieee123, size, count, targets["synthetic"]), quick)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
