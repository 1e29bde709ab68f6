"""The nonlinear reference power flow: OpenDSS solving the stored `Network` at an operating state.

The network is written out by `dss_export.to_dss`, so OpenDSS solves exactly the stored model (which
reproduces the original file's solution to ~1e-9 pu on the IEEE feeders). Regulator taps are held at
the network's solved values or the state's (no control loop runs); loads are scaled with `loadmult`.
Each DER is an OpenDSS Generator, model 1 (constant P and Q), single- or multi-phase wye on its phases,
kvar positive = injected into the grid, with vminpu/vmaxpu far outside any operating point so it never
turns into a constant impedance. Voltages are in pu of the network's own bus bases; the substation is
the Vsource terminal (positive = import). `converged` is False when OpenDSS gives up.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from apps.dms.engine.dss_export import to_dss
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import BranchFlow, Network, OperatingState, PowerFlowResult


@on_dss_thread
def solve(net: Network | Path, state: OperatingState | None = None) -> PowerFlowResult:
    """Solve `net` (or the feeder in a master .dss file, read first) at `state` with OpenDSS."""
    import opendssdirect as dss

    if isinstance(net, Path):
        net = read_network(net, net.stem)
    state = state or OperatingState()
    *build, solve_command = to_dss(net, state)
    for command in build:
        dss.Text.Command(command)
    try:
        dss.Text.Command(solve_command)
        converged = bool(dss.Solution.Converged())
    except Exception:  # OpenDSS reports a failed solution (too many iterations …) as an error
        converged = False
    return _result(net, state, converged)


def _result(net: Network, state: OperatingState, converged: bool) -> PowerFlowResult:
    import opendssdirect as dss

    names = [n.lower() for n in dss.Circuit.AllNodeNames()]
    volts = np.array(dss.Circuit.AllBusVolts(), dtype=float)
    phasors = dict(zip(names, volts[0::2] + 1j * volts[1::2], strict=True))
    voltages, angles = {}, {}
    for bus in net.buses:
        for p in bus.phases:
            v = phasors[f"{bus.name}.{p}"]
            voltages[f"{bus.name}.{p}"] = abs(v) / (1000.0 * bus.base_kv_ln)
            angles[f"{bus.name}.{p}"] = math.degrees(math.atan2(v.imag, v.real))
    flows = {f"line.{x.name}": _flow(f"Line.{x.name}", x.phases) for x in net.lines}
    for x in net.transformers:
        element = f"Transformer.{x.name}"
        if x.phases_to:
            flows[f"transformer.{x.name}"] = _node_flow(element, x.phases, x.phases_to)
        else:
            flows[f"transformer.{x.name}"] = _flow(element, x.phases)
    dss.Circuit.SetActiveElement("Vsource.source")
    src = -np.array(dss.CktElement.Powers(), dtype=float)[:6]
    flows["vsource.source"] = BranchFlow((1, 2, 3), *(tuple(src[k::2]) for k in (0, 1, 0, 1)))
    demand = _demand()
    losses = np.array(dss.Circuit.Losses(), dtype=float) / 1000.0
    return PowerFlowResult(
        voltages_pu=voltages,
        substation_p_kw=float(src[0::2].sum()),
        substation_q_kvar=float(src[1::2].sum()),
        losses_kw=float(losses[0]),
        losses_kvar=float(losses[1]),
        demand_p_kw=demand.real,
        demand_q_kvar=demand.imag,
        converged=converged,
        angles_deg=angles,
        branch_flows=flows,
        state=state,
    )


def _flow(element: str, phases: tuple[int, ...]) -> BranchFlow:
    import opendssdirect as dss

    dss.Circuit.SetActiveElement(element)
    s = np.array(dss.CktElement.Powers(), dtype=float)
    s = s[0::2] + 1j * s[1::2]
    ncond = dss.CktElement.NumConductors()
    n = len(phases)
    s_from, s_to = s[:n], -s[ncond : ncond + n]
    return BranchFlow(phases, tuple(s_from.real), tuple(s_from.imag), tuple(s_to.real), tuple(s_to.imag))


def _node_flow(element: str, phases: tuple[int, ...], phases_to: tuple[int, ...]) -> BranchFlow:
    """Into the `phases` nodes of terminal 1 and out of the `phases_to` nodes of the later terminals,
    each at the first conductor on that node: a single-phase unit whose windings span different
    nodes, or a center tap (`buses=[p s.1.0 s.0.2]`: winding 2's node 1, winding 3's node 2)."""
    import opendssdirect as dss

    dss.Circuit.SetActiveElement(element)
    s = np.array(dss.CktElement.Powers(), dtype=float)
    s = s[0::2] + 1j * s[1::2]
    ncond, nodes = dss.CktElement.NumConductors(), list(dss.CktElement.NodeOrder())
    s_from = np.array([s[nodes[:ncond].index(p)] for p in phases])
    s_to = np.array([-s[ncond + nodes[ncond:].index(p)] for p in phases_to])
    return BranchFlow(phases, tuple(s_from.real), tuple(s_from.imag), tuple(s_to.real), tuple(s_to.imag))


def _demand() -> complex:
    """Net consumption of every shunt element (loads, capacitors, shunt reactors, generators) at the
    solution."""
    import opendssdirect as dss

    total = 0j
    for full in dss.Circuit.AllElementNames():
        kind = full.partition(".")[0].lower()
        if kind in ("load", "capacitor", "generator", "reactor"):
            dss.Circuit.SetActiveElement(full)
            if kind == "reactor" and not _is_shunt():
                continue  # a series reactor's own consumption is a loss, like a line's
            s = np.array(dss.CktElement.Powers(), dtype=float)
            total += complex(s[0::2].sum(), s[1::2].sum())
    return total


def _is_shunt() -> bool:
    import opendssdirect as dss

    n = dss.CktElement.NumPhases()
    return dss.CktElement.NumTerminals() == 1 or not any(list(dss.CktElement.NodeOrder())[n:])
