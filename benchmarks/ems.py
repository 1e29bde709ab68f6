"""EMS volt/var OPF benchmark: case118 with 50 DSO interfaces (target ≤ 2 s), and in the same run
pandapower's own AC OPF (``pp.runopp``, PIPS interior point) on the same problem as its peer.

    .venv/bin/python benchmarks/ems.py [--repeat N]

Pure engine (apps.ems.engine), no Django and no database. DSOs: the 50 largest load buses of case118,
4 identical feeders each, each feeder carrying a quarter of the bus's case load and able to give or
take 30 % of its real power as reactive power. The peer gets the same problem in pandapower's terms:
generator P fixed at the case's dispatch (min = max), every DSO's Q a controllable static generator
within its range, the ext_grid replaced by a slack generator (so its voltage set point is free, as in
the engine), bus voltages 0.95–1.05 pu, and the objective 1 per MW of slack generation — with P and
loads fixed, that is the losses. The peer cannot switch shunts; the engine can (the engine's figure
with shunts held at their case value is printed too). Both answers are checked by an AC power flow.
Times are wall clock, median of ``--repeat`` runs after one cold run (imports, reading the case).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.ems.engine.case import load_case
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.opf import OpfResult, run_opf
from apps.ems.engine.volt_var_lp import Weights
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

TARGET_S = 2.0
CASE, DSO_COUNT, FEEDERS, Q_SHARE = "case118", 50, 4, 0.3


def dso_interfaces() -> list[DsoInterface]:
    net = load_case(CASE)
    loads = net.load.groupby("bus")[["p_mw", "q_mvar"]].sum().sort_values("p_mw", ascending=False)
    found = []
    for bus, row in loads.head(DSO_COUNT).iterrows():
        p_kw, q_kvar = 1000 * row.p_mw / FEEDERS, 1000 * row.q_mvar / FEEDERS
        found.append(DsoInterface(int(bus) + 1, FEEDERS, -Q_SHARE * p_kw, Q_SHARE * p_kw, p_kw, q_kvar))
    return found


def timed(run: Any, repeat: int) -> tuple[float, Any]:
    run()  # cold
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peer_net(dsos: list[DsoInterface]) -> Any:
    import pandapower as pp

    net = load_case(CASE)
    net.bus["min_vm_pu"], net.bus["max_vm_pu"] = V_MIN_PU, V_MAX_PU
    net.gen["min_p_mw"] = net.gen["max_p_mw"] = net.gen.p_mw
    net.gen["controllable"] = True
    for i, row in net.ext_grid.iterrows():
        pp.create_gen(net, row.bus, p_mw=0.0, vm_pu=row.vm_pu, slack=True, controllable=True,
                      min_q_mvar=row.min_q_mvar, max_q_mvar=row.max_q_mvar, min_p_mw=-1e4, max_p_mw=1e4,
                      name="slack")  # fmt: skip
        net.ext_grid.at[i, "in_service"] = False
    net.poly_cost = net.poly_cost.iloc[0:0]
    for i in net.gen.index:
        pp.create_poly_cost(net, i, "gen", cp1_eur_per_mw=1.0 if net.gen.at[i, "slack"] else 0.0)
    for d in dsos:
        q_lo, q_hi = d.count * d.q_min_kvar / 1000, d.count * d.q_max_kvar / 1000
        pp.create_sgen(net, d.bus - 1, p_mw=0.0, q_mvar=0.0, controllable=True, min_p_mw=0.0, max_p_mw=0.0,
                       min_q_mvar=q_lo, max_q_mvar=q_hi)  # fmt: skip
    return net


def run_peer(net: Any) -> tuple[float, float]:
    import copy

    import pandapower as pp

    work = copy.deepcopy(net)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runopp(work, numba=False, calculate_voltage_angles=True)
    seconds = time.perf_counter() - start
    vm = work.res_bus.vm_pu
    assert work.OPF_converged and vm.min() >= V_MIN_PU - 1e-4 and vm.max() <= V_MAX_PU + 1e-4
    return seconds, float(work.res_line.pl_mw.sum() + work.res_trafo.pl_mw.sum())


def line(label: str, seconds: float, result: OpfResult | None = None, losses: float | None = None) -> None:
    text = f"  {label:<46} {seconds:7.3f} s"
    if result is not None:
        before, after = result.losses_mw_before, result.losses_mw
        text += f"  {result.iterations:3d} LPs  losses {before:8.3f} → {after:8.3f} MW"
        text += f"  objective {result.objective:8.3f} (before {result.objective_before:.1f})"
    elif losses is not None:
        text += f"           losses            {losses:8.3f} MW  objective {losses:8.3f}"
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dsos = dso_interfaces()
    print(f"{CASE}, {len(dsos)} DSO interfaces × {FEEDERS} feeders", end="")
    print(f"; target ≤ {TARGET_S:.0f} s (median of {args.repeat})")
    seconds, result = timed(lambda: run_opf(CASE, dsos), args.repeat)
    line("engine, losses + 0.05 × Σ|V−1| (default)", seconds, result)
    mark = "meets" if seconds <= TARGET_S else "MISSES"
    seconds, result = timed(lambda: run_opf(CASE, dsos, weights=Weights(voltage=0.0)), args.repeat)
    line("engine, losses only", seconds, result)
    seconds, result = timed(
        lambda: run_opf(CASE, dsos, weights=Weights(voltage=0.0), switch_shunts=False), args.repeat
    )
    line("engine, losses only, shunts held", seconds, result)
    net = peer_net(dsos)
    run_peer(net)  # cold
    runs = [run_peer(net) for _ in range(args.repeat)]
    line("pandapower runopp (PIPS), losses only", statistics.median(r[0] for r in runs), losses=runs[-1][1])
    print(f"  default-weights engine run {mark} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
