"""Coordination-cycle benchmark on the demo system: per-stage and whole-cycle wall time of the cycles
the running demo recorded, against the seed's budgets (seed 000 §2.2, scaled to the interval) as the
peer figure. Target: the demo system's whole cycle ≤ 30 s.

    DATABASE_URL=… .venv/bin/python benchmarks/cycle.py [--last N] [--run]

`make demo` prints its DATABASE_URL; beat runs a cycle every interval. `--run` first runs one cycle
now (`manage.py run_cycle`, needs the current interval free: pause automatic cycles on /cycles/
first). A cycle's wall time is from the start of its first stage to the end of its last (the DMS's
stages included: it answers after its DERs confirmed); "from the boundary" adds the wait for beat's
tick. Stages are given per scope (the DMS stages per feeder). Exit code 0 whatever the figures.

At scale (no demo, no database): `--scale 20,100` runs the cycle's stages for 20 and for 100 feeders
× 100 DERs with the real engines and protocol stacks on loopback, the DMS's solves on 2 worker
processes (benchmarks/_cycle_scale.py says how). Target: 10,000 DERs ≤ 120 s.

    .venv/bin/python benchmarks/cycle.py --scale 20,100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def django_setup() -> None:
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL to the demo's database (make demo prints it).")
    os.environ["DJANGO_SETTINGS_MODULE"] = "crest_web.settings"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6390/0")
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--last", type=int, default=10, help="cycles to summarize (default 10)")
    parser.add_argument("--run", action="store_true", help="run one cycle now first")
    parser.add_argument("--scale", default="", help="feeder counts for the at-scale runs, e.g. 20,100")
    args = parser.parse_args()
    if args.scale:
        at_scale(args.scale)
        return
    django_setup()
    from django.core.management import call_command

    from apps.cycle.engine.schedule import STAGE_LABELS, Stage
    from apps.cycle.models import Cycle

    if args.run:
        call_command("run_cycle")
    cycles = list(Cycle.objects.filter(status="done").prefetch_related("stages")[: args.last])
    if not cycles:
        sys.exit("No completed cycle recorded yet: wait for the next interval.")
    per_stage: dict[tuple[str, str], list[float]] = defaultdict(list)
    budget: dict[str, float] = {}
    walls, from_boundary = [], []
    for c in cycles:
        ended = [(s, s.ended_at) for s in c.stages.all() if s.ended_at is not None]
        for s, _ in ended:
            per_stage[(s.stage, s.scope)].append(s.duration_s or 0.0)
            budget[s.stage] = s.budget_s
        last = max(end for _, end in ended)
        walls.append((last - min(s.started_at for s, _ in ended)).total_seconds())
        from_boundary.append((last - c.interval_start).total_seconds())
    newest = cycles[0]
    print(f"{len(cycles)} completed cycles, interval {newest.interval_s:g} s, newest {newest.interval_start}")
    print(f"{'stage':48} {'scope':22} {'median s':>9} {'max s':>8} {'budget s':>9}")
    for stage in Stage:
        for (name, scope), times in sorted(per_stage.items()):
            if name == stage.value:
                label = STAGE_LABELS[stage]
                print(
                    f"{label:48} {scope or '—':22} {statistics.median(times):9.2f} {max(times):8.2f}"
                    f" {budget[name]:9.1f}"
                )
    total_budget = sum(budget.values())
    print(f"whole cycle, first stage to last: median {statistics.median(walls):.2f} s, max {max(walls):.2f} s"
          f" (target 30 s; the seed's budgets add up to {total_budget:.0f} s)")  # fmt: skip
    print(f"from the interval boundary:       median {statistics.median(from_boundary):.2f} s, "
          f"max {max(from_boundary):.2f} s")  # fmt: skip


def at_scale(counts: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _cycle_scale import report, run_scale
    from powerflow import machine

    print(machine())
    for text in counts.split(","):
        report(run_scale(int(text)))


if __name__ == "__main__":
    main()
