"""The per-feeder tables of docs/validation.md: LinDist3Flow alone and refreshed against OpenDSS.

    .venv/bin/python benchmarks/validation_tables.py [FEEDER ...]

FEEDER: ieee13, ieee123, ckt5, ckt7 (default: all). Pure engine, no database. Prints one markdown
section per feeder: the sweep's worst figures, then one row per scenario (the columns of the doc).
"""

from __future__ import annotations

import sys
from pathlib import Path

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.studies import Comparison, validate

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "feeders"
MASTERS = {
    "ieee13": ROOT / "13Bus" / "IEEE13Nodeckt.dss",
    "ieee123": ROOT / "123Bus" / "IEEE123Master.dss",
    "ckt5": ROOT / "epri_ckt5" / "Master_ckt5.dss",
    "ckt7": ROOT / "epri_ckt7" / "Master_ckt7.dss",
}


def _worst(rows: list[Comparison]) -> tuple[float, float]:
    return max(r.max_v_err_pct for r in rows[1:]), max(r.q_err_pct for r in rows[1:])


def table(name: str) -> str:
    net = read_network(MASTERS[name], name)
    linear, refreshed = validate(net, iterations=0), validate(net)
    (lv, lq), (rv, rq) = _worst(linear), _worst(refreshed)
    out = [
        f"{name}: {len(net.buses)} buses, {len(net.loads)} loads. Sweep worst: linear alone {lv:.3f} % "
        f"voltage, {lq:.2f} % substation Q; refreshed {rv:.3f} % voltage, {rq:.3f} % substation Q.",
        "",
        "| scenario | linear: mean / max V err % | linear: P / Q err % | refreshed (3): mean / max V err % "
        "| refreshed: P / Q err % | worst node (refreshed) |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for a, b in zip(linear, refreshed, strict=True):
        out.append(
            f"| {a.scenario} | {a.mean_v_err_pct:.4f} / {a.max_v_err_pct:.3f} | {a.p_err_pct:.2f} / "
            f"{a.q_err_pct:.2f} | {b.mean_v_err_pct:.4f} / {b.max_v_err_pct:.4f} | {b.p_err_pct:.3f} / "
            f"{b.q_err_pct:.3f} | {b.worst_node} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    for feeder in sys.argv[1:] or list(MASTERS):
        print(table(feeder), "\n", flush=True)
