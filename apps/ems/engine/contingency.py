"""N-1 screening: each listed branch outage on its own, by the case's own bus numbers.

Framework-free: no Django here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apps.ems.engine.case import Injection, branch_names, find_branch, load_case
from apps.ems.engine.whatif import run_whatif
from apps.standards.ansi import V_MAX_PU, V_MIN_PU

MAX_SCREENED = 60  # outages per screening: each is a full power flow


@dataclass(frozen=True)
class OutageRow:
    outage: str
    solved: bool
    note: str  # why it could not be solved, or the limits it breaks
    min_vm_pu: float | None = None
    min_bus: str = ""
    max_loading_pct: float | None = None
    worst_branch: str = ""
    losses_mw: float | None = None

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def outage_list(case: str, text_items: Sequence[str]) -> list[str]:
    """The outages asked for: ``all`` means every line and transformer of the case."""
    items = [t.strip() for t in text_items if t.strip()]
    net = load_case(case)
    if [i.lower() for i in items] == ["all"]:
        items = branch_names(net, "line") + branch_names(net, "trafo")
    if len(items) > MAX_SCREENED:
        raise ValueError(
            f"{len(items)} outages asked for; screen at most {MAX_SCREENED} at once (list them)."
        )
    for item in items:
        find_branch(net, case.strip().lower(), item)  # unknown branch: the reason, before any run
    return items


def screen(case: str, outages: Sequence[str], injections: Sequence[Injection] = ()) -> list[OutageRow]:
    """One power flow per outage; one that fails or islands buses is a row saying so, not an error."""
    rows = []
    for outage in outage_list(case, outages):
        try:
            result = run_whatif(case, injections, [outage])
        except ValueError as exc:
            rows.append(OutageRow(outage, False, str(exc)))
            continue
        low_bus = min(result.buses, key=lambda b: result.buses[b])
        worst = max(result.branches, key=lambda b: result.branches[b]) if result.branches else ""
        loading = result.branches.get(worst, 0.0)
        broken = [b for b, v in result.buses.items() if not V_MIN_PU <= v <= V_MAX_PU]
        note = f"voltage outside {V_MIN_PU}–{V_MAX_PU} pu at bus(es) {', '.join(broken)}" if broken else ""
        if loading > 100:
            note = "; ".join(filter(None, [note, f"branch {worst} at {loading:.0f} %"]))
        rows.append(
            OutageRow(outage, True, note, result.buses[low_bus], low_bus, loading, worst, result.losses_mw)
        )
    return rows
