"""Plant benchmark (issue #13): CPU time per simulated step of the grid simulator.

    .venv/bin/python benchmarks/plant.py [--steps N] [--feeders N]

Pure engine (apps.plant.engine), no Django, no database. Two systems:

* the demo system: IEEE 123 and IEEE 13 as the demo imports them (apps/dms/fixtures) plus a second
  copy of IEEE 123, a DER at every load's bus and phases (100 on each IEEE 123, 9 on IEEE 13),
  tied to case9's buses 5, 7 and 9 and solved with the transmission case every step;
* `--feeders` copies of IEEE 123 (default 20) with 100 DERs each, tied in turn to case9's three
  load buses.

Each step sets every load to its daily curve, every DER to what the sky and its set points allow,
solves every feeder in its own OpenDSS context and the transmission case with pandapower. Times are
CPU seconds (time.process_time: every thread of this process) per step, median over `--steps` steps
a simulated 10 s apart under a cloudy sky. The peer, same run: the naive way — the DMS engine's
reference power flow (apps/dms/engine/opendss_pf.solve), which writes and compiles the feeder anew
for every solve. Target: a 10 s step of the demo system in ≤ 1 s of CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

from apps.dms.engine import opendss_pf
from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.network import DerInjection, Network, OperatingState
from apps.plant.engine import shapes
from apps.plant.engine.feeder import DerCommand, FeederPlant, PlantDER
from apps.plant.engine.plant import Plant
from apps.plant.engine.transmission import DsoTie, TransmissionPlant

FIXTURES = Path(__file__).resolve().parent.parent / "apps" / "dms" / "fixtures"
TARGET_CPU_S = 1.0
CASE9_LOAD_BUSES = (5, 7, 9)


def feeder(name: str, fixture: str, count: int) -> tuple[Network, list[PlantDER]]:
    doc = json.loads((FIXTURES / f"{fixture}.json").read_text())
    net = Network.from_dict({**doc, "name": name})
    spots = [(x.bus, x.phases) for x in net.loads if net.bus[x.bus].base_kv_ln > 1.0]
    limits = DERLimits(10.0, 4.84, 4.84, 11.0)
    ders = [
        PlantDER(f"{name}-pv{i}", bus, phases[:1] if i % 2 else phases, 10.0, limits)
        for i, (bus, phases) in enumerate(spots[i % len(spots)] for i in range(count))
    ]
    return net, ders


def build(layout: list[tuple[str, str, int]]) -> Plant:
    plants, dso_of = {}, {}
    for i, (name, fixture, count) in enumerate(layout):
        net, ders = feeder(name, fixture, count)
        plants[name] = FeederPlant(net, ders)
        for j, der in enumerate(ders):
            plants[name].command(der.name, DerCommand(q_set_kvar=(j % 5 - 2) * 1.5))
        dso_of[name] = f"bus{CASE9_LOAD_BUSES[i % 3]}"
    ties = {f"bus{b}": DsoTie(b) for b in CASE9_LOAD_BUSES}
    plant = Plant(plants, TransmissionPlant("case9", ties), dso_of)
    for w in plant.weather.values():
        w.sky = shapes.SKY_CLOUDY
    return plant


def cpu_per_step(plant: Plant, steps: int) -> tuple[float, int]:
    start = dt.datetime(2026, 6, 21, 11, 0, tzinfo=dt.UTC)
    plant.step(start)  # first solve from a flat start
    times, unconverged = [], 0
    for k in range(1, steps + 1):
        t0 = time.process_time()
        truth = plant.step(start + dt.timedelta(seconds=10 * k))
        times.append(time.process_time() - t0)
        unconverged += sum(not r.converged for r in truth.feeders.values())
    return statistics.median(times), unconverged


def peer_per_step(layout: list[tuple[str, str, int]], steps: int) -> float:
    """The same feeders solved by writing and compiling each anew (the DMS's reference solve)."""
    feeders = [feeder(name, fixture, count) for name, fixture, count in layout]
    times = []
    for _ in range(steps):
        t0 = time.process_time()
        for net, ders in feeders:
            injections = {d.name: DerInjection(d.bus, d.phases, 6.0, 1.0) for d in ders}
            opendss_pf.solve(net, OperatingState(0.7, injections))
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--feeders", type=int, default=20)
    args = parser.parse_args()
    demo = [("ieee123", "ieee123", 100), ("ieee13", "ieee13", 9), ("ieee123b", "ieee123", 100)]
    many = [(f"f{i:02d}", "ieee123", 100) for i in range(args.feeders)]
    print(f"plant step, CPU s (median of {args.steps} steps of 10 s simulated, cloudy sky)")
    for label, layout in (
        ("demo system (3 feeders, 209 DERs, case9)", demo),
        (f"{args.feeders} × IEEE 123, 100 DERs each, case9", many),
    ):
        t0 = time.perf_counter()
        plant = build(layout)
        setup = time.perf_counter() - t0
        cpu, bad = cpu_per_step(plant, args.steps)
        peer = peer_per_step(layout, max(3, args.steps // 10))
        verdict = "meets" if cpu <= TARGET_CPU_S else "MISSES"
        print(
            f"  {label}: {cpu * 1e3:.1f} ms per step ({verdict} the {TARGET_CPU_S:.0f} s target); "
            f"set-up {setup:.2f} s; unconverged feeder solves {bad}"
        )
        print(
            f"    peer, OpenDSS compiled anew per solve (apps/dms/engine/opendss_pf): "
            f"{peer * 1e3:.1f} ms per step"
        )


if __name__ == "__main__":
    main()
