"""Dispatch benchmark: stage 1 + OpenDSS check + stage 2 on IEEE 123 and on the 10,070 node-phase
synthetic feeder with 1,000 DERs, and 20 feeders dispatched by 2 worker processes.

    .venv/bin/python benchmarks/dispatch.py [--quick] [--repeat N] [--peer]

Pure engine (apps.dms.engine.dispatch), no Django and no database. PV is placed the paper's way
(`add_pv`: penetration 0.9 of the peak load, inverters 1.1 × the PV peak, seed 1); 100 units on
IEEE 123 with 60 % of their PV available now and the substation at 0.98 pu; 1,000 units on the
synthetic feeder of `powerflow.py` (IEEE 123 with replicated laterals, loads ÷ (K+1)) with 40 %
available and the substation at 0.95 pu (at 60 % and 0.98 pu that feeder has over 1,400 node-phases
above 1.05 pu before any dispatch). Requests are set against the substation Q at the present output.
One IEEE 123 run also gives the inverters reactive ratings of 0.44 × their kVA, as the demo registry's
units have, so the LPs' Q bounds bind below the inverter disk.

Every dispatch time is the whole `dispatch()` call: OpenDSS base case, LinDist3Flow build, VLSM rows,
stage 1 with its Q corrections, the OpenDSS check, and stage 2 when that check finds violations;
the next interval's flexibility (a capability-curve point) is timed separately. IEEE 123 figures are
the median of `--repeat` runs after a cold one. The throughput run dispatches 20 IEEE 123 feeders
(PV placed with seeds 1..20, each its own request) from a pool of 2 processes — one OpenDSS each,
as on two Celery workers — and reports feeders per second after the pool has warmed up.
`--peer` also times LinDist3Flow's column-wise `sensitivities()` for the same DER columns on the
synthetic feeder (what the row-wise VLSM replaces). Exit code 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from powerflow import copies_needed, fmt_time, load_ieee123, machine, node_phases, synthetic

from apps.capability.engine.flexibility import with_flexibility
from apps.capability.engine.pv import add_pv
from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dispatch import dispatch
from apps.dms.engine.dispatch_types import DerState, DispatchOptions, DispatchRequest, DispatchResult
from apps.dms.engine.network import DerInjection, Network, OperatingState

TARGET_S = {"ieee123": 1.0, "synthetic": 15.0}
DISPATCH_ONLY = DispatchOptions()  # the flexibility step is timed separately


@dataclasses.dataclass
class Case:
    net: Network
    ders: tuple[DerState, ...]
    v_sub: float
    q_present_kvar: float


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="IEEE 123 runs after the cold one (default 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run at reduced sizes, no targets")
    parser.add_argument("--peer", action="store_true", help="also time column-wise sensitivities (slow)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def case(net: Network, count: int, share: float, v_sub: float, seed: int = 1) -> Case:
    units = add_pv(net, penetration=0.9, count=count, oversize=1.1, seed=seed)
    ders = tuple(
        DerState(u.name, u.bus, u.phases, "pv", share * u.p_avail_kw, u.s_rated_kva, share * u.p_avail_kw)
        for u in units
    )
    state = OperatingState(1.0, {d.name: DerInjection(d.bus, d.phases, d.p_kw) for d in ders}, {}, v_sub)
    return Case(net, ders, v_sub, opendss_pf.solve(net, state).substation_q_kvar)


def timed(fn: Callable[[], DispatchResult], runs: int) -> tuple[DispatchResult, float]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    assert result is not None
    return result, statistics.median(times)


def describe(label: str, result: DispatchResult, seconds: float, target: float | None) -> None:
    mark = (
        "" if target is None else f"  target ≤ {fmt_time(target)}: {'PASS' if seconds <= target else 'FAIL'}"
    )
    print(f"  {label:<58} {fmt_time(seconds):>10}{mark}")
    causes = ", ".join(f"{s.quantity}: {s.cause}" for s in result.shortfalls) or "none"
    steps = ", ".join(
        f"{k.removesuffix('_ms')} {v:,.0f} ms" for k, v in result.timings_ms.items() if v >= 0.5
    )
    print(
        f"    Q requested {result.request.q_kvar:,.1f} kvar, achieved {result.q_achieved_kvar:,.1f} kvar "
        f"(OpenDSS); stage 2 {'ran' if result.stage2_ran else 'not needed'}; violations "
        f"{len(result.violations_before)} → {len(result.violations_after)}; shortfalls: {causes}"
    )
    print(f"    steps: {steps}")


def bench_ieee123(repeat: int) -> None:
    c = case(load_ieee123(), 100, 0.6, 0.98)
    print(f"\n== IEEE 123, {len(c.ders)} PV, substation {c.v_sub} pu, Q now {c.q_present_kvar:,.1f} kvar")
    runs = [
        ("feasible request (Q now − 600 kvar): stage 1 + check", c.q_present_kvar - 600.0, c.ders),
        ("aggressive request (−1,200 kvar): stage 1 + check + stage 2", -1200.0, c.ders),
        ("Q now − 600 kvar, reactive ratings 0.44 × kVA (the demo's)", c.q_present_kvar - 600.0, rated(c)),
    ]
    for label, q, ders in runs:
        dispatch(c.net, DispatchRequest(q, c.v_sub), ders, DISPATCH_ONLY)  # cold
        run = functools.partial(dispatch, c.net, DispatchRequest(q, c.v_sub), ders, DISPATCH_ONLY)
        result, seconds = timed(run, repeat)
        describe(label, result, seconds, TARGET_S["ieee123"])
    result, seconds = timed(lambda: dispatched_with_flexibility(c.net, runs[0][1], c.v_sub, c.ders), repeat)
    flex_ms = result.timings_ms["flexibility_ms"]
    print(f"  with next interval's flexibility: {fmt_time(seconds)} (flexibility {flex_ms:,.0f} ms)")


def dispatched_with_flexibility(
    net: Network, q_kvar: float, v_sub_pu: float, ders: Sequence[DerState]
) -> DispatchResult:
    """The dispatch and then the capability engine's next-interval flexibility, as a worker runs them."""
    return with_flexibility(net, ders, dispatch(net, DispatchRequest(q_kvar, v_sub_pu), ders, DISPATCH_ONLY))


def rated(c: Case, share: float = 0.44) -> tuple[DerState, ...]:
    """The case's inverters with reactive ratings `share` × their kVA, as the registry's units have."""
    return tuple(
        dataclasses.replace(d, q_inj_max_kvar=share * d.s_rated_kva, q_abs_max_kvar=share * d.s_rated_kva)
        for d in c.ders
    )


def bench_synthetic(target_np: int, count: int, target: float | None, peer: bool) -> None:
    base = load_ieee123()
    net = synthetic(base, copies_needed(base, target_np))
    c = case(net, count, 0.4, 0.95)
    print(f"\n== synthetic {node_phases(net):,} node-phases, {len(c.ders)} PV, substation {c.v_sub} pu")
    q = c.q_present_kvar - 500.0
    result, seconds = timed(lambda: dispatch(net, DispatchRequest(q, c.v_sub), c.ders, DISPATCH_ONLY), 1)
    describe("request Q now − 500 kvar: stage 1 + check (+ stage 2)", result, seconds, target)
    result, seconds = timed(lambda: dispatched_with_flexibility(net, q, c.v_sub, c.ders), 1)
    flex_s = result.timings_ms["flexibility_ms"] / 1e3
    print(f"  with next interval's flexibility: {fmt_time(seconds)} (flexibility {flex_s:,.1f} s)")
    if peer:
        state = OperatingState(
            1.0, {d.name: DerInjection(d.bus, d.phases, d.p_kw) for d in c.ders}, {}, c.v_sub
        )
        model = lindist3flow.build(net, opendss_pf.solve(net, state))
        columns = sorted({f"{d.bus}.{p}" for d in c.ders for p in d.phases})
        started = time.perf_counter()
        model.sensitivities(state, columns)
        spent = fmt_time(time.perf_counter() - started)
        print(f"  peer: LinDist3Flow sensitivities(), {len(columns)} columns: {spent}")


def _one(seed: int) -> float:
    c = case(load_ieee123(), 100, 0.6, 0.98, seed=seed)
    started = time.perf_counter()
    dispatch(c.net, DispatchRequest(c.q_present_kvar - 300.0 - 20.0 * seed, c.v_sub), c.ders, DISPATCH_ONLY)
    return time.perf_counter() - started


def bench_throughput(feeders: int) -> None:
    print(f"\n== {feeders} IEEE 123 feeders dispatched by 2 worker processes")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_one, [101, 102])  # warm-up: imports and the first OpenDSS compile in each process
        started = time.perf_counter()
        each = pool.map(_one, range(1, feeders + 1), chunksize=1)
        wall = time.perf_counter() - started
    print(
        f"  {feeders} feeders in {fmt_time(wall)}: {feeders / wall:.2f} feeders/s "
        f"({60 * feeders / wall:,.0f} per minute); one dispatch {fmt_time(statistics.median(each))} median"
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(machine())
    bench_ieee123(args.repeat)
    if args.quick:
        bench_synthetic(2000, 200, None, args.peer)
        bench_throughput(4)
    else:
        bench_synthetic(10_000, 1000, TARGET_S["synthetic"], args.peer)
        bench_throughput(20)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
