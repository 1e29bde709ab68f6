"""What-if AC power flow of a standard transmission case: DER injections and branch outages.

``run_whatif("case9", [Injection(7, 45, 22)], ["5-6"])`` is seed 004 Table VII's contingency case.
Buses, generators and branches are named by the case's own 1-based bus numbers (DESIGN §7).
Framework-free: no Django here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.ems.engine.case import Injection, bus_index, bus_number_of, find_branch, load_case


@dataclass(frozen=True)
class WhatIfResult:
    case: str
    buses: dict[str, float]  # "<bus number>" → vm_pu
    generators: dict[str, float]  # "<bus number>" → q_mvar of every generator and ext_grid there
    losses_mw: float  # lines + transformers
    branches: dict[str, float] = field(default_factory=dict)  # "FROM-TO" → loading % (0 when out)

    def as_json(self) -> dict[str, Any]:
        return {"buses": self.buses, "generators": self.generators, "losses_mw": self.losses_mw}


def describe(case: str, injections: Sequence[Injection], outages: Sequence[str]) -> str:
    """``case9 with injection 7:45:22 and outage 5-6`` — the study, for messages."""
    parts = [f"injection {i.label()}" for i in injections] + [f"outage {o.strip()}" for o in outages]
    if not parts:
        return f"{case} (base case)"
    return f"{case} with " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


def build_net(case: str, injections: Sequence[Injection], outages: Sequence[str]) -> Any:
    """The pandapower net of the study: an ``sgen`` per injection, outaged branches out of service."""
    import pandapower as pp

    net = load_case(case)
    name = case.strip().lower()
    for inj in injections:
        if not (math.isfinite(inj.p_mw) and math.isfinite(inj.q_mvar)):
            raise ValueError(f"Bad injection {inj.label()}: P and Q must be finite numbers.")
        index = bus_index(net, name, inj.bus)
        pp.create_sgen(net, index, p_mw=inj.p_mw, q_mvar=inj.q_mvar, name=f"DER injection at bus {inj.bus}")
    for text in outages:
        branch = find_branch(net, name, text)
        table = net.line if branch.kind == "line" else net.trafo
        table.loc[list(branch.indices), "in_service"] = False
    return net


def run_whatif(case: str, injections: Sequence[Injection] = (), outages: Sequence[str] = ()) -> WhatIfResult:
    """Newton–Raphson power flow of the study; ``ValueError`` if it fails to converge or islands buses."""
    import pandapower as pp

    net = build_net(case, injections, outages)
    name = case.strip().lower()
    study = describe(name, injections, outages)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(net, algorithm="nr", numba=False)
    except pp.LoadflowNotConverged as exc:
        raise ValueError(f"The power flow of {study} did not converge (Newton–Raphson).") from exc
    if not net.converged:
        raise ValueError(f"The power flow of {study} did not converge (Newton–Raphson).")
    number = bus_number_of(net)
    vm = net.res_bus.vm_pu
    dead = [number[int(i)] for i in net.bus.index[net.bus.in_service] if not math.isfinite(float(vm[i]))]
    if dead:
        raise ValueError(
            f"The power flow of {study} cannot be solved: the outages island bus(es) "
            f"{', '.join(map(str, sorted(dead)))} from every slack source."
        )
    buses = {str(number[int(i)]): float(vm[i]) for i in net.bus.index}
    generators: dict[str, float] = {}
    for table, results in ((net.ext_grid, net.res_ext_grid), (net.gen, net.res_gen)):
        for i, row in table.iterrows():
            if not row["in_service"]:
                continue
            key = str(number[int(row["bus"])])
            generators[key] = generators.get(key, 0.0) + float(results.at[i, "q_mvar"])
    losses = float(net.res_line.pl_mw.sum()) + (float(net.res_trafo.pl_mw.sum()) if len(net.trafo) else 0.0)
    ordered = dict(sorted(generators.items(), key=lambda kv: int(kv[0])))
    return WhatIfResult(name, buses, ordered, losses, branch_loading(net))


def branch_loading(net: Any) -> dict[str, float]:
    """``FROM-TO`` (case bus numbers) → the loading % of the most loaded circuit there, 0 when out."""
    number = bus_number_of(net)
    found: dict[str, float] = {}
    for table, result, a, b in (
        (net.line, net.res_line, "from_bus", "to_bus"),
        (net.trafo, net.res_trafo, "hv_bus", "lv_bus"),
    ):
        for index, row in table.iterrows():
            ends = sorted((number[int(row[a])], number[int(row[b])]))
            value = float(result.at[index, "loading_percent"]) if row["in_service"] else 0.0
            key = f"{ends[0]}-{ends[1]}"
            found[key] = max(found.get(key, 0.0), value if math.isfinite(value) else 0.0)
    return found
