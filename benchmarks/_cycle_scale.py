"""The coordination cycle at scale (issue #12): F feeders × 100 DERs, every stage run with the real
engines and protocol stacks on loopback, the DMS's solves on two worker processes.

Stages, in the order a cycle runs them (DESIGN §2); within a stage the DSOs and feeders run side by
side, as they do in the product:

* collect — one EMS master reads D DMS outstations (each publishing a substation reading) over DNP3;
* EMS OPF — the volt/var OPF on case118 with D DSO interfaces at its D largest load buses;
* EMS → DMS requests — the D requests, one DSO after another (six direct operates each);
* DMS stage 1, re-optimization and dispatch/limits — per feeder: load allocation to the substation
  reading, the dispatch (stage 1, OpenDSS check, stage 2 when needed) and the next interval's
  flexibility, for F IEEE 123 feeders with 100 PV each (seeds 1..F), on a pool of 2 processes —
  one OpenDSS each, as on two Celery workers;
* DER messaging — F × 100 set points (P limit and Q) to as many simulated DNP3 inverter outstations
  at once, every one confirmed by the device: one gateway process per 2,000 DERs (20 feeders), each
  with its own masters and, in the same process, its outstations, all sending together; the stage
  takes as long as the slowest gateway. (One process cannot hold 10,000 links: it connected about
  half of them in two minutes.)

The cycle's wall time is the sum of the stages' (they follow each other). D = F for 20 feeders;
for 100 feeders D = 50 DSO interfaces with 2 feeders each (case118 has fewer than 100 load buses).
The connections to the DER outstations are opened before the cycle (a gateway keeps them open) and
timed apart. Peer figure: the seed's budget for each stage of a 5-minute interval."""

from __future__ import annotations

import math
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _dnp3_bench import run as dnp3_setpoints
from dispatch import Case, case
from powerflow import load_ieee123

from apps.capability.engine.flexibility import with_flexibility
from apps.dms.engine import opendss_pf
from apps.dms.engine.dispatch import dispatch
from apps.dms.engine.dispatch_types import DispatchOptions, DispatchRequest
from apps.dms.engine.dnp3.dms_outstation import DmsAnswer, DmsOutstation
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.simulator import free_port_block
from apps.dms.engine.dnp3.stack import shutdown_manager
from apps.dms.engine.load_allocation import HeadMeasurement, allocate, present_injections, scaled_loads
from apps.dms.engine.network import OperatingState
from apps.ems.engine.dnp3_link import DsoRequest, EmsDnp3Master
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.opf import run_opf
from apps.standards.timing import STAGE_BUDGETS_300_S

DERS_PER_FEEDER = 100
GATEWAY_DERS = 2000  # DERs per gateway process in the DER messaging stage
CASE = "case118"
Q_SHARE = 0.3


@dataclass
class Figures:
    feeders: int
    dsos: int
    stages_s: dict[str, float]
    notes: dict[str, str]

    @property
    def total_s(self) -> float:
        return sum(self.stages_s.values())


def dso_interfaces(count: int, feeders_each: int) -> list[DsoInterface]:
    from apps.ems.engine.case import load_case

    net = load_case(CASE)
    loads = net.load.groupby("bus")[["p_mw", "q_mvar"]].sum().sort_values("p_mw", ascending=False)
    out = []
    for bus, row in loads.head(count).iterrows():
        p_kw, q_kvar = 1000 * row.p_mw / feeders_each, 1000 * row.q_mvar / feeders_each
        out.append(DsoInterface(int(bus) + 1, feeders_each, -Q_SHARE * p_kw, Q_SHARE * p_kw, p_kw, q_kvar))
    return out


def link_stages(dsos: int) -> tuple[float, float]:
    """collect (read every DMS outstation) and the requests, over DNP3 on loopback."""
    base = free_port_block(dsos)
    stations = [DmsOutstation(base + i) for i in range(dsos)]
    for i, s in enumerate(stations):
        s.measured(7000.0 + i, 3500.0, 1.01, time.time())
        s.answer(DmsAnswer(0.0, -800.0, 600.0, 0))
    master = EmsDnp3Master(MasterOptions(event_poll_s=0.2))
    try:
        started = time.perf_counter()
        for i in range(dsos):
            master.add_dso(f"dso-{i}", "127.0.0.1", base + i)
        names = [f"dso-{i}" for i in range(dsos)]
        while not all(master.status(n).measured_at_s for n in names):
            master.pump(0.05)
            if time.perf_counter() - started > 120:
                raise RuntimeError("the outstations were not all read within 120 s")
        collect_s = time.perf_counter() - started
        started = time.perf_counter()
        for k, n in enumerate(names):
            outcome = master.send(n, DsoRequest(1000 + k, -500.0, 1.0, interval_s=300.0))
            assert outcome.ok, outcome.reason
        request_s = time.perf_counter() - started
    finally:
        master.close()
        for s in stations:
            s.close()
        shutdown_manager()
    return collect_s, request_s


def feeder_cycle(seed: int) -> dict[str, float]:
    """One feeder's DMS work, as the dispatch task does it: allocation, dispatch, flexibility."""
    c = case(load_ieee123(), DERS_PER_FEEDER, 0.6, 0.98, seed=seed)
    started = time.perf_counter()
    reading = HeadMeasurement(1.05 * _present_p(c), 0.95 * _present_q(c), 0.98)
    found = allocate(c.net, present_injections(c.ders), reading)
    net = scaled_loads(c.net, found.k_p, found.k_q)
    allocation_s = time.perf_counter() - started
    request = DispatchRequest(c.q_present_kvar - 300.0 - 5.0 * seed, c.v_sub)
    result = dispatch(net, request, c.ders, DispatchOptions())
    result = with_flexibility(net, c.ders, result)
    t = result.timings_ms
    return {
        "allocation_s": allocation_s,
        "stage1_s": allocation_s + (t["model_ms"] + t["stage1_ms"]) / 1e3,
        "reopt_s": t.get("stage2_ms", 0.0) / 1e3,
        "limits_s": t["flexibility_ms"] / 1e3,
        "wall_s": time.perf_counter() - started,
        "stage2": float(result.stage2_ran),
    }


def _present_p(c: Case) -> float:
    state = OperatingState(1.0, present_injections(c.ders), {}, c.v_sub)
    return opendss_pf.solve(c.net, state).substation_p_kw


def _present_q(c: Case) -> float:
    return c.q_present_kvar


def dms_stages(feeders: int) -> tuple[dict[str, float], str]:
    """The DMS stages for every feeder on 2 processes: each stage's wall is its share of the pool's
    wall in proportion to the feeders' own time in it (the stages run back to back per feeder)."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(feeder_cycle, [901, 902])  # warm-up: imports and the first OpenDSS compile
        started = time.perf_counter()
        each = pool.map(feeder_cycle, range(1, feeders + 1), chunksize=1)
        wall = time.perf_counter() - started
    spent = {k: sum(e[k] for e in each) for k in ("stage1_s", "reopt_s", "limits_s")}
    total = sum(spent.values()) or 1.0
    shares = {
        "dms_stage1": wall * spent["stage1_s"] / total,
        "dms_reopt": wall * spent["reopt_s"] / total,
        "dispatch_limits": wall * spent["limits_s"] / total,
    }
    median = statistics.median(e["wall_s"] for e in each)
    ran = sum(int(e["stage2"]) for e in each)
    note = (
        f"{feeders} feeders in {wall:.1f} s on 2 processes; one feeder {median:.2f} s median "
        f"(allocation {statistics.median(e['allocation_s'] for e in each):.2f} s); stage 2 ran on {ran}"
    )
    return shares, note


def _gateway(n: int, base: int, barrier: Any) -> dict[str, float]:
    return dnp3_setpoints(n, base, serial=False, ready=barrier.wait)


def der_messaging(total: int) -> tuple[float, str]:
    """Set points to `total` DNP3 outstations from ceil(total / GATEWAY_DERS) gateway processes that
    start sending together; the slowest gateway's time."""
    gateways = math.ceil(total / GATEWAY_DERS)
    sizes = [min(GATEWAY_DERS, total - k * GATEWAY_DERS) for k in range(gateways)]
    base = free_port_block(total)
    starts = [base + k * GATEWAY_DERS for k in range(gateways)]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(gateways)
        with context.Pool(gateways) as pool:
            each = pool.starmap(_gateway, [(n, b, barrier) for n, b in zip(sizes, starts, strict=True)])
    confirmed = sum(int(e["confirmed"]) for e in each)
    slowest = max(e["setpoint_s"] for e in each)
    connect = max(e["connect_s"] for e in each)
    return slowest, (
        f"{confirmed:,}/{total:,} confirmed from {gateways} gateway process(es); connecting to them "
        f"beforehand took {connect:.1f} s (a gateway keeps its connections open)"
    )


def run_scale(feeders: int) -> Figures:
    dsos, each = (feeders, 1) if feeders <= 50 else (feeders // 2, 2)
    stages: dict[str, float] = {}
    notes: dict[str, str] = {}
    stages["collect"], stages["ems_request"] = link_stages(dsos)
    interfaces = dso_interfaces(dsos, each)
    run_opf(CASE, interfaces)  # cold: pandapower's imports and the case
    started = time.perf_counter()
    result = run_opf(CASE, interfaces)
    stages["ems_opf"] = time.perf_counter() - started
    notes["ems_opf"] = (
        f"{result.iterations} LPs, losses {result.losses_mw_before:.2f} → {result.losses_mw:.2f} MW"
    )
    shares, notes["dms"] = dms_stages(feeders)
    stages.update(shares)
    stages["der_messaging"], notes["der_messaging"] = der_messaging(feeders * DERS_PER_FEEDER)
    order = list(STAGE_BUDGETS_300_S)
    return Figures(feeders, dsos, {k: stages[k] for k in order if k in stages}, notes)


def report(f: Figures, say: Callable[[str], None] = print) -> None:
    say(
        f"\n== {f.feeders} feeders × {DERS_PER_FEEDER} DERs "
        f"({f.feeders * DERS_PER_FEEDER:,} DERs), {f.dsos} DSO interfaces"
    )
    for stage, seconds in f.stages_s.items():
        say(f"  {stage:<16} {seconds:8.2f} s   (seed budget {STAGE_BUDGETS_300_S[stage]:5.0f} s)")
    target = 120.0
    verdict = "PASS" if f.total_s <= target else "FAIL"
    say(f"  {'whole cycle':<16} {f.total_s:8.2f} s   (seed budget 300 s; target ≤ {target:.0f} s: {verdict})")
    for key, note in f.notes.items():
        say(f"  {key}: {note}")
