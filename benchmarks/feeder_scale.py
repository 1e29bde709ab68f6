"""Feeder-scale benchmark (issue #15): import, LinDist3Flow solve, VLSM, a capability curve and a
dispatch on EPRI ckt5 and ckt7 with about one PV per five customers, beside OpenDSS's own solve.

    .venv/bin/python benchmarks/feeder_scale.py [--quick] [--repeat N] [--slow-repeat N] [FEEDER ...]

FEEDER: ckt5, ckt7 (default both; `--quick`: ckt5 only). Pure engines (apps.dms.engine,
apps.capability.engine), no Django and no database. The feeders are the original EPRI files
(tests/data/feeders/epri_ckt*/Master_ckt*.dss), read by `dss_import.read_network`. Customers are the
loads on secondaries (rated below 1 kV; ckt7's 39 loads on its 12.47 kV substation bus stand for the
substation's other feeders, 71 MW, and are not customers). Every fifth customer in file order gets one
single-phase PV unit on its first phase, rooftop-sized: PV peak 1.5 × that load's kW (as
`powerflow.der_state`), clipped to 2–10 kW; inverter 1.1 × the PV peak (`capability.OVERSIZE`).

Power flow, at nominal loads with every unit at its PV peak and unity power factor: OpenDSS's base
case, then LinDist3Flow built once there (`lindist3flow.build`) and `model.solve(state)` with the LU
reused, linear alone and with the project's default refreshes (`studies.REFRESH_ITERATIONS`), against
the 50 ms target; the peer is OpenDSS on the same network and state in the same run, end to end
(`opendss_pf.solve`: export, compile, solve, read back) and its `solve` command alone
(`powerflow.opendss_engine_solve`); the sanity line is the largest |V_lin − V_dss| there. The VLSM is
`model.sensitivities(state, columns)` at the PVs' node-phases, as powerflow.py times it.

Capability curve: `capability_curve(net, units, 0:1:0.05)` (21 points × 2 directions, defaults) with
the time split of capability.py, against 10 s. Dispatch: the whole `dispatch()` call with 60 % of each
unit's PV available and producing, the substation at the file's source voltage, the request Q now
(OpenDSS) − 25 % of the inverters' kVA, against 5 s. At nominal loads ckt7's base case is below
0.95 pu at 1,505 of its 2,452 node-phases (min 0.880 pu) before any DER acts, so its curve and dispatch
are also run at loads × 0.5, where its base case lies within 0.977–1.018 pu. ckt5's base case
is at 0.943–1.050 pu (18 node-phases just below 0.95 pu, none once the PV produces).

Times are wall clock (time.perf_counter). Power-flow steps: the median of `--repeat` runs (default 20)
after a warm-up; import, build, curve and dispatch: one cold run, then the median of `--slow-repeat`
(default 3). An engine that raises is reported with its traceback and the run goes on. Exit code 0
whatever the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from capability import HEADROOMS, OVERSIZE, curve_notes, timed_curve
from dispatch import DISPATCH_ONLY, describe
from powerflow import (
    Report,
    Step,
    der_columns,
    fmt_time,
    machine,
    max_dv,
    node_phases,
    opendss_engine_solve,
    print_report,
    timed,
)

from apps.capability.engine.pv import PVUnit
from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dispatch import dispatch
from apps.dms.engine.dispatch_types import DerState, DispatchRequest
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import DerInjection, Load, Network, OperatingState, PowerFlowResult
from apps.dms.engine.studies import REFRESH_ITERATIONS

FEEDERS = Path(__file__).resolve().parent.parent / "tests" / "data" / "feeders"
MASTERS = {
    "ckt5": FEEDERS / "epri_ckt5" / "Master_ckt5.dss",
    "ckt7": FEEDERS / "epri_ckt7" / "Master_ckt7.dss",
}
TARGET_S = {"solve": 0.050, "curve": 10.0, "dispatch": 5.0}
CUSTOMER_KV = 1.0  # loads rated below this are customers on secondaries
EVERY = 5  # one PV per this many customers
PV_PER_LOAD, PV_MIN_KW, PV_MAX_KW = 1.5, 2.0, 10.0
SHARE_NOW = 0.6  # the dispatch's available and present PV, of the peak (as dispatch.py on IEEE 123)
REQUEST_SHARE = 0.25  # the request: Q now minus this share of the inverters' kVA
LIGHT_LOAD = {"ckt7": 0.5}  # a load scale at which the feeder's base case lies within ANSI range A
T = TypeVar("T")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("feeders", nargs="*", metavar="FEEDER", help="ckt5, ckt7 (default both)")
    parser.add_argument("--repeat", type=int, default=None, help="power-flow runs (default 20, quick 3)")
    parser.add_argument(
        "--slow-repeat", type=int, default=None, help="import/build/curve/dispatch runs (default 3, quick 1)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: ckt5 only, few repeats")
    args = parser.parse_args(argv)
    args.repeat = max(1, args.repeat or (3 if args.quick else 20))
    args.slow_repeat = max(1, args.slow_repeat or (1 if args.quick else 3))
    args.feeders = args.feeders or (["ckt5"] if args.quick else list(MASTERS))
    if unknown := set(args.feeders) - set(MASTERS):
        parser.error(f"unknown feeder(s) {', '.join(sorted(unknown))}; choose from {', '.join(MASTERS)}")
    return args


# --- customers and their PV -------------------------------------------------------------------------


def customers(net: Network) -> list[Load]:
    return [ld for ld in net.loads if ld.kv < CUSTOMER_KV]


def place_pv(net: Network) -> list[PVUnit]:
    """Every EVERY-th customer on a grounded bus, in file order: one single-phase unit on its first
    phase, PV peak PV_PER_LOAD × its load kW within PV_MIN_KW..PV_MAX_KW, inverter OVERSIZE × that."""
    ungrounded = net.ungrounded_buses()
    hosts = [ld for ld in customers(net) if ld.bus not in ungrounded][::EVERY]
    units = []
    for ld in hosts:
        kw = min(max(PV_PER_LOAD * ld.p_kw, PV_MIN_KW), PV_MAX_KW)
        units.append(PVUnit(f"pv-{ld.name}", ld.bus, ld.phases[:1], kw, OVERSIZE * kw))
    return units


def pv_state(units: Sequence[PVUnit], load_scale: float = 1.0) -> OperatingState:
    """Every unit at its PV peak, unity power factor."""
    ders = {u.name: DerInjection(u.bus, u.phases, u.p_avail_kw) for u in units}
    return OperatingState(load_scale=load_scale, ders=ders)


def der_states(units: Sequence[PVUnit]) -> tuple[DerState, ...]:
    """The dispatch's DERs: SHARE_NOW of the PV peak available and produced now, at unity power factor."""
    return tuple(
        DerState(
            u.name, u.bus, u.phases, "pv", SHARE_NOW * u.p_avail_kw, u.s_rated_kva, SHARE_NOW * u.p_avail_kw
        )
        for u in units
    )


# --- measuring ----------------------------------------------------------------------------------------


def cold_then_median(fn: Callable[[], T], runs: int) -> tuple[T, float, float]:
    """The last result, the cold first run's time and the median of `runs` more."""
    started = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return out, cold, statistics.median(times)


def failed(report: Report, what: str) -> None:
    """An engine raised: its traceback printed, the failure noted; the benchmark goes on."""
    print(f"\n!! {report.title}: {what} raised:", flush=True)
    traceback.print_exc(file=sys.stdout)
    kind, exc = sys.exc_info()[:2]
    report.notes.append(f"{what} FAILED: {kind.__name__ if kind else '?'}: {exc}")


def bench_import(name: str, slow: int) -> tuple[Network, Step, str]:
    net, cold, seconds = cold_then_median(lambda: read_network(MASTERS[name], name), slow)
    step = Step("import: read_network of the original files", seconds, slow)
    return net, step, f"import: cold first run {fmt_time(cold)}"


def add_powerflow(report: Report, net: Network, state: OperatingState, repeat: int, slow: int) -> None:
    base = opendss_pf.solve(net)
    model, cold, seconds = cold_then_median(lambda: lindist3flow.build(net, base), slow)
    report.steps.append(Step("LinDist3Flow build (calibration + 1st LU)", seconds, slow))
    report.notes.append(f"build: cold first run {fmt_time(cold)}")
    model.solve(state)  # the state's first solve; the LU is then reused
    seconds = timed(lambda: model.solve(state), repeat)
    report.steps.append(
        Step("LinDist3Flow solve(state), LU reused", seconds, repeat, target_s=TARGET_S["solve"])
    )
    seconds = timed(lambda: model.solve(state, iterations=REFRESH_ITERATIONS), repeat)
    label = f"LinDist3Flow solve(state, iterations={REFRESH_ITERATIONS}) (default)"
    report.steps.append(Step(label, seconds, repeat, target_s=TARGET_S["solve"]))
    opendss_pf.solve(net, state)  # warm-up
    seconds = timed(lambda: opendss_pf.solve(net, state), repeat)
    report.steps.append(Step("OpenDSS opendss_pf.solve (export+compile+solve+read)", seconds, repeat))
    engine = statistics.median(opendss_engine_solve(net, state) for _ in range(repeat))
    report.steps.append(Step("OpenDSS 'solve' command alone (peer)", engine, repeat))
    add_sanity(report, model, opendss_pf.solve(net, state), state)
    columns = der_columns(state)
    model.sensitivities(state, columns)  # warm-up: the bus-block factorization is cached with the LU
    seconds = timed(lambda: model.sensitivities(state, columns), repeat)
    label = f"VLSM, {len(columns)} DER columns ({report.node_phases}×{len(columns)} ×2), LU reused"
    report.steps.append(Step(label, seconds, repeat))


def add_sanity(
    report: Report, model: lindist3flow.LinDist3FlowModel, reference: PowerFlowResult, state: OperatingState
) -> None:
    vs = reference.voltages_pu.values()
    report.notes.append(
        f"OpenDSS at the PV state: |V| {min(vs):.4f}–{max(vs):.4f} pu, converged {reference.converged}"
    )
    for iterations in (0, REFRESH_ITERATIONS):
        dv, at = max_dv(model.solve(state, iterations=iterations), reference)
        report.notes.append(
            f"sanity, solve(iterations={iterations}): max |V_lin − V_dss| = {dv:.2e} pu at {at}"
        )


def add_curve(report: Report, net: Network, units: Sequence[PVUnit], load_scale: float, slow: int) -> None:
    """One capability curve (21 × 2): cold, then the median of `slow`, with capability.py's notes."""
    try:
        timed_curve(net, units, HEADROOMS, load_scale)  # cold
        runs = sorted(
            (timed_curve(net, units, HEADROOMS, load_scale) for _ in range(slow)), key=lambda r: r[1]
        )
    except Exception:
        failed(report, f"capability curve at loads × {load_scale}")
        return
    curve, seconds, spent = runs[(len(runs) - 1) // 2]
    label = f"capability curve {len(HEADROOMS)} × 2, loads × {load_scale}"
    report.steps.append(Step(label, seconds, slow, target_s=TARGET_S["curve"]))
    report.notes.extend(f"curve at loads × {load_scale}: {n}" for n in curve_notes(curve, seconds, spent))
    feasible = [p for p in curve.points if p.feasible]
    ends = feasible[:1] + feasible[1:][-1:]
    spans = ", ".join(f"h={p.headroom:.2f}: {p.q_min_kvar:,.0f}..{p.q_max_kvar:,.0f} kvar" for p in ends)
    report.notes.append(f"curve at loads × {load_scale}: Q range {spans or 'none feasible'}")


def run_dispatch(report: Report, net: Network, units: Sequence[PVUnit], load_scale: float, slow: int) -> None:
    """The whole dispatch() call, request set against the substation Q now; printed as dispatch.py does."""
    ders = der_states(units)
    opt = dataclasses.replace(DISPATCH_ONLY, load_scale=load_scale)
    now = OperatingState(load_scale, {d.name: DerInjection(d.bus, d.phases, d.p_kw) for d in ders})
    q_now = opendss_pf.solve(net, now).substation_q_kvar
    request = DispatchRequest(q_now - REQUEST_SHARE * sum(u.s_rated_kva for u in units), net.source_pu)
    try:
        result, cold, seconds = cold_then_median(lambda: dispatch(net, request, ders, opt), slow)
    except Exception:
        failed(report, f"dispatch at loads × {load_scale}")
        return
    label = f"dispatch, loads × {load_scale}, Q now {q_now:,.0f} kvar (cold {fmt_time(cold)})"
    describe(label, result, seconds, TARGET_S["dispatch"])
    report.steps.append(
        Step(f"dispatch() at loads × {load_scale}", seconds, slow, target_s=TARGET_S["dispatch"])
    )


# --- one feeder -----------------------------------------------------------------------------------------


def bench_feeder(name: str, repeat: int, slow: int) -> Report:
    net, step, note = bench_import(name, slow)
    units = place_pv(net)
    report = Report(f"EPRI {name}", node_phases(net), [step], [note])
    pv_kw, kva = sum(u.p_avail_kw for u in units), sum(u.s_rated_kva for u in units)
    load_kw, customer_kw = sum(ld.p_kw for ld in net.loads), sum(ld.p_kw for ld in customers(net))
    print(
        f"\n== {report.title}: {len(net.buses):,} buses, {report.node_phases:,} node-phases, "
        f"{len(net.loads):,} loads of which {len(customers(net)):,} customers, {len(units)} PV units "
        f"({pv_kw:,.0f} kW PV, {kva:,.0f} kVA of inverters; customer load "
        f"{customer_kw:,.0f} kW, all loads {load_kw:,.0f} kW)",
        flush=True,
    )
    add_powerflow(report, net, pv_state(units), repeat, slow)
    scales = (1.0, LIGHT_LOAD[name]) if name in LIGHT_LOAD else (1.0,)
    for load_scale in scales:
        add_curve(report, net, units, load_scale, slow)
        run_dispatch(report, net, units, load_scale, slow)
    return report


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(machine())
    for name in args.feeders:
        print_report(bench_feeder(name, args.repeat, args.slow_repeat))
    print(f"\n{machine()}")  # the load average again, at the end
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
