"""The per-feeder tables of docs/validation.md: LinDist3Flow alone and refreshed against OpenDSS.

    .venv/bin/python benchmarks/validation_tables.py [FEEDER ...]

FEEDER: ieee13, ieee123, ckt5, ckt7 (default: all). Pure engine, no database. Prints one markdown
section per feeder: the sweep's worst figures, then one row per scenario (the columns of the doc):
the linear model alone, with the default 3 refreshes, and converged (`--iterations 50`; the refresh
stops once the voltages settle). A row with loads on a vmin/vmax step (`studies.law_step_loads`) is
one where the power flow has a solution on each side of a load's step and the two engines may settle
on different ones; the worst figures are given with and without such rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.studies import REFRESH_ITERATIONS, Comparison, validate_each

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "feeders"
MASTERS = {
    "ieee13": ROOT / "13Bus" / "IEEE13Nodeckt.dss",
    "ieee123": ROOT / "123Bus" / "IEEE123Master.dss",
    "ckt5": ROOT / "epri_ckt5" / "Master_ckt5.dss",
    "ckt7": ROOT / "epri_ckt7" / "Master_ckt7.dss",
}


CONVERGED = 50


def _worst(rows: list[Comparison]) -> tuple[float, float]:
    return max(r.max_v_err_pct for r in rows[1:]), max(r.q_err_pct for r in rows[1:])


def _worst_off_steps(rows: list[Comparison]) -> str:
    stepped = [r for r in rows[1:] if r.law_step_loads]
    if not stepped:
        return "no point has loads on a vmin/vmax step"
    rest = [r.max_v_err_pct for r in rows[1:] if not r.law_step_loads]
    shared = [r.from_reference_max_v_err_pct or 0.0 for r in stepped]
    return (
        f"{len(stepped)} point(s) with loads on a vmin/vmax step; without them {max(rest, default=0):.3f} % "
        f"voltage; on them, on OpenDSS's side of the step, {max(shared):.3f} %"
    )


def table(name: str) -> str:
    net = read_network(MASTERS[name], name)
    runs = validate_each(net, (0, REFRESH_ITERATIONS, CONVERGED))
    linear, refreshed, converged = runs[0], runs[REFRESH_ITERATIONS], runs[CONVERGED]
    (lv, lq), (rv, rq), (cv, cq) = _worst(linear), _worst(refreshed), _worst(converged)
    out = [
        f"{name}: {len(net.buses)} buses, {len(net.loads)} loads. Sweep worst: linear alone {lv:.3f} % "
        f"voltage, {lq:.2f} % substation Q; refreshed {rv:.3f} % voltage, {rq:.3f} % substation Q; "
        f"converged {cv:.3f} % voltage, {cq:.3f} % substation Q ({_worst_off_steps(converged)}).",
        "",
        "| scenario | linear: mean / max V err % | linear: P / Q err % | refreshed (3): mean / max V err % "
        "| refreshed: P / Q err % | converged: max V err % | worst node (converged) | loads on a step "
        "| from OpenDSS's solution: max V err % |",
        "|---|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for a, b, c in zip(linear, refreshed, converged, strict=True):
        out.append(
            f"| {a.scenario} | {a.mean_v_err_pct:.4f} / {a.max_v_err_pct:.3f} | {a.p_err_pct:.2f} / "
            f"{a.q_err_pct:.2f} | {b.mean_v_err_pct:.4f} / {b.max_v_err_pct:.4f} | {b.p_err_pct:.3f} / "
            f"{b.q_err_pct:.3f} | {c.max_v_err_pct:.4f} | {c.worst_node} | {c.law_step_loads or ''} | "
            + ("" if c.from_reference_max_v_err_pct is None else f"{c.from_reference_max_v_err_pct:.4f}")
            + " |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    for feeder in sys.argv[1:] or list(MASTERS):
        print(table(feeder), "\n", flush=True)
