"""Power-flow benchmark: LinDist3Flow build / sensitivities / solve against OpenDSS, time and memory.

    .venv/bin/python benchmarks/powerflow.py [--quick] [--repeat N] [--node-phases N]

Pure engine (apps.dms.engine), no Django and no database. Two feeders: IEEE 123 (the project's
fixture apps/dms/fixtures/ieee123.json) and a synthetic radial feeder of at least `--node-phases`
node-phases: IEEE 123 plus K renamed copies of everything downstream of its regulated substation
bus 150r (bus 149 and below, with the regulators, the transformer, loads and capacitors), each
copy fed from 150r through its own copy of switch sw1. The source is IEEE 123's stiff one, so the
laterals do not interact through it; every load and capacitor is scaled by 1/(K+1), so the whole
feeder draws what IEEE 123 draws and the 5 MVA substation regulator stays within its rating
(benchmarks/_synthetic.py builds both feeders; they are re-exported here for the other benchmarks).

Times are wall clock (time.perf_counter), medians over `--repeat` runs with tracemalloc off; each
step then runs once more under tracemalloc for its Python-side peak. On feeders of 2,000 node-phases
or more the build runs at most 5 times. The solves are at a DER dispatch (a PV on every fourth load);
the sanity lines compare LinDist3Flow with OpenDSS at loads × 0.8 with those PVs. The VLSM (voltage–
load sensitivities) is timed at those PVs' node-phases (what a dispatch needs; against the target),
by SuperLU solves for comparison (once on large feeders), and for every node-phase in float64 and
float32 (first run under tracemalloc, then the median of 2 more on large feeders); the bus-block
result is checked against SuperLU's. Prints the figures against the targets; the exit code does not
depend on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import os
import platform
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from _synthetic import copies_needed, load_ieee123, node_phases, synthetic

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_export import to_dss
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import DerInjection, Network, OperatingState, PowerFlowResult

# Re-exported: the other benchmarks take their feeders and output helpers from here.
__all__ = ["copies_needed", "fmt_time", "load_ieee123", "machine", "node_phases", "synthetic"]

SOLVE_TARGET_S = {"small": 0.010, "large": 0.5}  # IEEE 123; ≥ LARGE node-phases
LARGE = 10_000
MB = 1024.0 * 1024.0
T = TypeVar("T")


@dataclasses.dataclass
class Step:
    label: str
    seconds: float
    runs: int
    peak_mb: float | None = None
    target_s: float | None = None


@dataclasses.dataclass
class Report:
    title: str
    node_phases: int
    steps: list[Step] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per step (default 20, quick 5)")
    parser.add_argument("--node-phases", type=int, default=None, help="synthetic feeder size (default 10000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,500 node-phases, 5 repeats")
    args = parser.parse_args(argv)
    args.repeat = max(1, args.repeat or (5 if args.quick else 20))
    args.node_phases = args.node_phases or (1_500 if args.quick else LARGE)
    return args


# --- the feeders ---------------------------------------------------------------------------------------


def der_state(net: Network, load_scale: float) -> OperatingState:
    """Loads × `load_scale` and a PV on the first phase of every fourth load (1.5 × its kW, 0 kvar),
    except behind a delta secondary (no ground reference for a wye PV there)."""
    ungrounded = net.ungrounded_buses()
    ders = {
        f"pv_{ld.name}": DerInjection(ld.bus, ld.phases[:1], p_kw=1.5 * ld.p_kw)
        for ld in net.loads[::4]
        if ld.p_kw > 0 and ld.bus not in ungrounded
    }
    return OperatingState(load_scale=load_scale, ders=ders)


# --- measuring ----------------------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls, tracemalloc off."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def traced(fn: Callable[[], T]) -> tuple[T, float, float]:
    """One call under tracemalloc: its result, its wall time and the peak of Python-side memory (MB)."""
    gc.collect()
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    return out, seconds, peak


def max_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@on_dss_thread  # the DSS engine must only ever be driven from its one thread
def opendss_engine_solve(net: Network, state: OperatingState) -> float:
    """OpenDSS's own `solve` command only, after compiling the exported circuit (seconds)."""
    import opendssdirect as dss

    commands = to_dss(net, state)
    if commands[-1] != "solve":
        raise RuntimeError("dss_export.to_dss no longer ends with 'solve'; update the benchmark")
    for command in commands[:-1]:
        dss.Text.Command(command)
    t0 = time.perf_counter()
    dss.Text.Command("solve")
    return time.perf_counter() - t0


def max_dv(result: PowerFlowResult, reference: PowerFlowResult) -> tuple[float, str]:
    """Largest |ΔV| in pu over every node-phase, and where."""
    key = max(reference.voltages_pu, key=lambda k: abs(result.voltages_pu[k] - reference.voltages_pu[k]))
    return abs(result.voltages_pu[key] - reference.voltages_pu[key]), key


# --- one feeder -----------------------------------------------------------------------------------------


def bench_feeder(title: str, net: Network, repeat: int, target_s: float | None) -> Report:
    report = Report(title, node_phases(net))
    base = opendss_pf.solve(net)
    vs = base.voltages_pu.values()
    report.notes.append(f"OpenDSS base case: |V| {min(vs):.4f}–{max(vs):.4f} pu, converged {base.converged}")
    model = lindist3flow.build(net, base)
    add_build_and_solve(report, net, base, model, repeat, target_s)
    add_opendss(report, net, repeat)
    add_sanity(report, net, base, model)
    report.notes.append(f"max RSS before the sensitivities: {max_rss_mb():,.0f} MB")
    add_sensitivities(report, net, model, repeat, target_s)
    report.notes.append(f"max RSS after the sensitivities: {max_rss_mb():,.0f} MB")
    return report


def add_build_and_solve(
    report: Report,
    net: Network,
    base: PowerFlowResult,
    model: lindist3flow.LinDist3FlowModel,
    repeat: int,
    target_s: float | None,
) -> None:
    build_runs = max(1, min(repeat, 5) if report.node_phases >= 2_000 else repeat)
    seconds = timed(lambda: lindist3flow.build(net, base), build_runs)
    report.steps.append(Step("build (incl. base-case calibration + 1st LU)", seconds, build_runs))
    report.steps[-1].peak_mb = traced(lambda: lindist3flow.build(net, base))[2]
    dispatch = der_state(net, 1.0)
    model.solve(dispatch)
    seconds = timed(lambda: model.solve(dispatch), repeat)
    report.steps.append(Step("solve: new DER dispatch (LU reused)", seconds, repeat, target_s=target_s))
    report.steps[-1].peak_mb = traced(lambda: model.solve(dispatch))[2]
    states = iter([der_state(net, 0.8 + 1e-4 * i) for i in range(repeat + 1)])  # each one new
    seconds = timed(lambda: model.solve(next(states)), repeat)
    report.steps.append(Step("solve: new load scale (re-factorizes)", seconds, repeat, target_s=target_s))
    report.steps[-1].peak_mb = traced(lambda: model.solve(next(states)))[2]


def add_opendss(report: Report, net: Network, repeat: int) -> None:
    state = der_state(net, 0.8)
    opendss_pf.solve(net, state)  # warm-up: imports and first compile
    seconds = timed(lambda: opendss_pf.solve(net, state), repeat)
    report.steps.append(Step("OpenDSS opendss_pf.solve (export+compile+solve+read)", seconds, repeat))
    report.steps[-1].peak_mb = traced(lambda: opendss_pf.solve(net, state))[2]
    engine = statistics.median(opendss_engine_solve(net, state) for _ in range(repeat))
    report.steps.append(Step("OpenDSS 'solve' command alone", engine, repeat))


def add_sanity(
    report: Report, net: Network, base: PowerFlowResult, model: lindist3flow.LinDist3FlowModel
) -> None:
    dv, at = max_dv(model.solve(), base)
    report.notes.append(f"sanity, base case: max |V_lin − V_dss| = {dv:.2e} pu at {at} (calibrated here)")
    state = der_state(net, 0.8)
    reference = opendss_pf.solve(net, state)
    dv, at = max_dv(model.solve(state), reference)
    report.notes.append(
        f"sanity, loads × 0.8 + {len(state.ders)} PVs: max |V_lin − V_dss| = {dv:.2e} pu at {at} "
        f"(OpenDSS converged {reference.converged})"
    )
    dv, at = max_dv(model.solve(state, iterations=5), reference)
    report.notes.append(f"sanity, same state, solve(iterations=5): max |ΔV| = {dv:.2e} pu at {at}")


def der_columns(state: OperatingState) -> list[str]:
    """The node-phases the DERs of `state` inject at: the columns a DMS dispatch needs."""
    return list(dict.fromkeys(f"{d.bus}.{p}" for d in state.ders.values() for p in d.phases))


def add_sensitivities(
    report: Report, net: Network, model: lindist3flow.LinDist3FlowModel, repeat: int, target_s: float | None
) -> None:
    """The VLSM (dV/dP and dV/dQ): at the DER node-phases (the dispatch's need, against the target) by
    the default method (bus-block elimination; SuperLU solves on small problems), each forced, then at
    every node-phase."""
    dispatch, large = der_state(net, 1.0), report.node_phases >= 2_000
    columns = der_columns(dispatch)
    k, n = len(columns), report.node_phases
    seconds = timed(lambda: model.sensitivities(dispatch, columns), repeat)
    step = Step(f"VLSM, {k} DER columns ({n}×{k} ×2), LU reused", seconds, repeat, target_s=target_s)
    report.steps.append(step)
    step.peak_mb = traced(lambda: model.sensitivities(dispatch, columns))[2]
    seconds = timed(lambda: model.sensitivities(dispatch, columns, method="tree"), repeat)
    report.steps.append(Step("VLSM, DER columns, bus-block elimination forced", seconds, repeat))
    states = iter([der_state(net, 0.9 + 1e-4 * i) for i in range(repeat + 1)])  # each one new
    seconds = timed(lambda: model.sensitivities(next(states), columns), repeat)
    report.steps.append(Step("VLSM, DER columns, new load scale (re-factorizes)", seconds, repeat))
    report.steps[-1].peak_mb = traced(lambda: model.sensitivities(next(states), columns))[2]
    runs = 1 if large else repeat
    seconds = timed(lambda: model.sensitivities(dispatch, columns, method="superlu"), runs)
    report.steps.append(Step("VLSM, DER columns by SuperLU solves (previous method)", seconds, runs))
    add_agreement(report, model, dispatch)
    add_full_vlsm(report, model, dispatch, repeat)


def add_agreement(report: Report, model: lindist3flow.LinDist3FlowModel, state: OperatingState) -> None:
    """Largest difference of the bus-block VLSM from SuperLU's and of its float32 version from float64
    (every column, or 50 sampled ones)."""
    keys = list(model.keys)
    if len(keys) > 2_000:
        keys = random.Random(11).sample(keys, 50)
    fast = model.sensitivities(state, keys, method="tree")
    ref = model.sensitivities(state, keys, method="superlu")
    half = model.sensitivities(state, keys, method="tree", dtype=np.float32)
    dv = max(float(abs(getattr(fast, a) - getattr(ref, a)).max()) for a in ("dv_dp", "dv_dq"))
    sub = max(float(abs(getattr(fast, a) - getattr(ref, a)).max()) for a in ("dp_sub_dp", "dq_sub_dq"))
    dv32 = max(float(abs(getattr(half, a) - getattr(fast, a)).max()) for a in ("dv_dp", "dv_dq"))
    report.notes.append(
        f"VLSM bus-block vs SuperLU over {len(keys)} columns: max |ΔdV| = {dv:.1e} pu/kW, "
        f"max |Δ substation| = {sub:.1e} kW/kW; float32 vs float64: max |ΔdV| = {dv32:.1e} pu/kW"
    )


def add_full_vlsm(
    report: Report, model: lindist3flow.LinDist3FlowModel, state: OperatingState, repeat: int
) -> None:
    """Every node-phase × every node-phase, float64 and float32: the first run is under tracemalloc
    (its time includes the first touch of the output's memory), then the median of `runs` more."""
    runs = 2 if report.node_phases >= 2_000 else repeat
    for dtype in (np.float64, np.float32):
        full = functools.partial(model.sensitivities, state, dtype=dtype)
        shape, first, peak = traced(functools.partial(_shape_of, full))  # the matrices freed at once
        gc.collect()
        seconds = timed(full, runs)
        label = f"VLSM, every node-phase ({shape[0]}×{shape[1]} ×2, {np.dtype(dtype).name})"
        report.steps.append(Step(label, seconds, runs, peak))
        report.notes.append(f"{label}: first run {fmt_time(first)} (under tracemalloc)")
    n = report.node_phases
    seconds = timed(lambda: np.ones((2, n, n)), runs)  # what the output memory costs on its own
    report.notes.append(f"for comparison, allocating and writing 2 × {n}×{n} float64: {fmt_time(seconds)}")


def _shape_of(full: Callable[[], lindist3flow.Sensitivities]) -> tuple[int, ...]:
    return tuple(full().dv_dp.shape)


# --- output --------------------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms" if seconds < 1.0 else f"{seconds:,.2f} s"


def verdict(step: Step) -> str:
    if step.target_s is None:
        return ""
    mark = "PASS" if step.seconds <= step.target_s else "FAIL"
    return f"target ≤ {fmt_time(step.target_s)}: {mark}"


def print_report(report: Report) -> None:
    print(f"\n== {report.title}: {report.node_phases:,} node-phases")
    print(f"  {'step':<55} {'median':>11} {'runs':>5} {'py peak':>10}")
    for s in report.steps:
        peak = f"{s.peak_mb:,.1f} MB" if s.peak_mb is not None else ""
        print(f"  {s.label:<55} {fmt_time(s.seconds):>11} {s.runs:>5} {peak:>10}  {verdict(s)}")
    for note in report.notes:
        print(f"  - {note}")


def machine() -> str:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs, {ram:.1f} GiB RAM, {platform.system()} {platform.release()} "
        f"{platform.machine()}, Python {platform.python_version()}; load average {load}"
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(machine())
    ieee123 = load_ieee123()
    reports = [bench_feeder("IEEE 123", ieee123, args.repeat, SOLVE_TARGET_S["small"])]
    print_report(reports[-1])
    copies = copies_needed(ieee123, args.node_phases)
    big = synthetic(ieee123, copies)
    large = node_phases(big) >= LARGE
    title = f"synthetic: IEEE 123 + {copies} lateral copies (loads ÷ {copies + 1})"
    reports.append(bench_feeder(title, big, args.repeat, SOLVE_TARGET_S["large"] if large else None))
    if not large:
        reports[-1].notes.append(f"below {LARGE:,} node-phases: no target applies")
    print_report(reports[-1])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nprocess max RSS: {max_rss_mb():,.0f} MB; load average at the end {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
