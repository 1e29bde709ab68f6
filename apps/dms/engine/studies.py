"""Power-flow studies on a feeder: one solve with either engine, and the validation sweep of
LinDist3Flow against OpenDSS. Engineering units at the edges (kW, kvar, pu)."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.network import (
    DerInjection,
    Network,
    OperatingState,
    PowerFlowResult,
    complex_voltages,
    shunt_windings,
    voltage_error_pct,
)

Engine = Literal["lindist3flow", "opendss"]
ENGINES: tuple[Engine, ...] = ("lindist3flow", "opendss")
# The validation sweep: load 0.3–1.2 of nominal; PV 0–100 % of the load at unity PF and at 0.9 PF
# both absorbing and injecting vars.
LOAD_SCALES = (0.3, 0.6, 1.0, 1.2)
PV_SHARES = (0.0, 0.5, 1.0)
TAN_PHI_09 = math.tan(math.acos(0.9))
REFRESH_ITERATIONS = 3  # fixed-point refreshes of loss and second-order terms; < 0.05 % on IEEE feeders


def run_powerflow(
    net: Network, engine: str, base: PowerFlowResult | None = None, iterations: int = REFRESH_ITERATIONS
) -> PowerFlowResult:
    """Solve the network at its own operating state (solved taps, nominal loads)."""
    if engine == "opendss":
        return opendss_pf.solve(net)
    if engine == "lindist3flow":
        model = lindist3flow.build(net, base or opendss_pf.solve(net))
        return model.solve(OperatingState(), iterations=iterations)
    raise ValueError(f"Unknown engine {engine!r}; use one of: {', '.join(ENGINES)}.")


def result_json(result: PowerFlowResult) -> dict[str, Any]:
    """The DESIGN §7 document: node-phase voltages and what the substation draws."""
    return {
        "voltages": {k: round(v, 6) for k, v in result.voltages_pu.items()},
        "substation": {
            "p_kw": round(result.substation_p_kw, 3),
            "q_kvar": round(result.substation_q_kvar, 3),
        },
    }


def pv_units(net: Network, load_scale: float, share: float, tan_phi: float) -> dict[str, DerInjection]:
    """Single-phase PV on every load node-phase sized to `share` of that node-phase's scaled load
    (a node's PV grows with its customers, as rooftop PV does); positive `tan_phi` injects vars,
    negative absorbs. None behind a delta winding without a ground reference: a single-phase unit
    needs one."""
    if share <= 0:
        return {}
    load_kw: dict[tuple[str, int], float] = {}
    floating = net.ungrounded_buses()
    for ld in net.loads:
        for p in ld.phases if ld.bus not in floating else ():
            load_kw[(ld.bus, p)] = load_kw.get((ld.bus, p), 0.0) + ld.p_kw / len(ld.phases)
    units = {}
    for (bus, phase), kw in sorted(load_kw.items()):
        p_kw = share * load_scale * kw
        if p_kw > 0:
            units[f"pv-{bus}.{phase}"] = DerInjection(bus, (phase,), p_kw, tan_phi * p_kw)
    return units


def sweep_states(net: Network) -> Iterator[tuple[str, OperatingState]]:
    for scale in LOAD_SCALES:
        for share in PV_SHARES:
            for tan_phi in (0.0, TAN_PHI_09, -TAN_PHI_09) if share else (0.0,):
                pf = "unity" if tan_phi == 0 else ("0.9 injecting" if tan_phi > 0 else "0.9 absorbing")
                label = f"load {scale:.1f}, PV {share:.0%}" + (f" at PF {pf}" if share else "")
                yield label, OperatingState(load_scale=scale, ders=pv_units(net, scale, share, tan_phi))


@dataclass(frozen=True)
class Comparison:
    scenario: str
    mean_v_err_pct: float
    max_v_err_pct: float
    worst_node: str
    p_err_pct: float  # of the base-case substation apparent power (the feeder's size)
    q_err_pct: float  # idem: Q itself passes through zero in the sweep
    linear_ms: float
    # Loads whose power steps at vminpu/vmaxpu, on one side of the step in OpenDSS's solution and on
    # the other in LinDist3Flow's (`law_step_loads`): the power flow has two solutions there.
    law_step_loads: int = 0
    # On such a row: the error of LinDist3Flow's refreshes started at OpenDSS's solution, loads held on
    # OpenDSS's side of their step (`shared_solution`). Small: OpenDSS's solution is one of the model's
    # too (the two engines only landed on different ones); not: the model steps off OpenDSS's point.
    from_reference_max_v_err_pct: float | None = None


def law_step_loads(
    net: Network, linear: PowerFlowResult, reference: PowerFlowResult, band_pct: float = 0.0
) -> list[str]:
    """Loads where the two solutions fall on different sides of a step in the load's law. OpenDSS
    switches a load outside [vminpu, vmaxpu] to the impedance drawing vmin^nb (vmax^nb) there, not
    the v^n it drew inside (`network.PowerLaw`): where n ≠ nb (a CVR load, model 3's Q) the power
    jumps, and a feeder loaded onto the step has a solution on each side of it. Which one an
    iteration lands on depends on where it starts; neither engine is wrong there. `band_pct`: a
    load within this much (% of the edge) of the edge on the other side is counted on OpenDSS's."""
    theirs = complex_voltages(reference)
    # LinDist3Flow solves magnitudes only; its windings take OpenDSS's angles, which differ little.
    ours = {k: linear.voltages_pu.get(k, 0.0) * v / abs(v) if v else 0j for k, v in theirs.items()}
    out = []
    for ld in net.loads:
        if all(law.n == law.nb for law in ld.laws):
            continue  # continuous at both edges: one solution
        ends, kv_w = shunt_windings(ld.conn, ld.phases, ld.kv)
        rated = kv_w / net.bus[ld.bus].base_kv_ln
        for start, end in ends:
            ours_w, theirs_w = (_winding(v, ld.bus, start, end) / rated for v in (ours, theirs))
            if any(_across(ours_w, theirs_w, edge, band_pct) for edge in (ld.vmin_pu, ld.vmax_pu)):
                out.append(ld.name)
                break
    return out


def _across(ours: float, theirs: float, edge: float, band_pct: float) -> bool:
    return (ours < edge) != (theirs < edge) and abs(ours - edge) > band_pct / 100 * edge


def _winding(phasors: dict[str, complex], bus: str, start: int, end: int | None) -> float:
    far = phasors.get(f"{bus}.{end}", 0j) if end is not None else 0j
    return abs(phasors.get(f"{bus}.{start}", 0j) - far)


def compare(
    label: str,
    linear: PowerFlowResult,
    reference: PowerFlowResult,
    linear_ms: float,
    s_base_kva: float,
    net: Network | None = None,
) -> Comparison:
    errors = voltage_error_pct(linear, reference)
    worst = max(errors, key=errors.__getitem__)
    s_ref = s_base_kva or 1.0
    return Comparison(
        scenario=label,
        mean_v_err_pct=sum(errors.values()) / len(errors),
        max_v_err_pct=errors[worst],
        worst_node=worst,
        p_err_pct=100 * abs(linear.substation_p_kw - reference.substation_p_kw) / s_ref,
        q_err_pct=100 * abs(linear.substation_q_kvar - reference.substation_q_kvar) / s_ref,
        linear_ms=linear_ms,
        law_step_loads=len(law_step_loads(net, linear, reference)) if net is not None else 0,
    )


def validate(net: Network, *, sweep: bool = True, iterations: int = REFRESH_ITERATIONS) -> list[Comparison]:
    """LinDist3Flow (calibrated once at the base case, then `iterations` refreshes) against OpenDSS
    at the base case and at every sweep point."""
    return validate_each(net, (iterations,), sweep=sweep)[iterations]


def validate_each(
    net: Network, iteration_counts: tuple[int, ...], *, sweep: bool = True
) -> dict[int, list[Comparison]]:
    """`validate` for several refresh counts, each OpenDSS reference solved once."""
    base = opendss_pf.solve(net)
    s_base = math.hypot(base.substation_p_kw, base.substation_q_kvar)
    model = lindist3flow.build(net, base)
    rows: dict[int, list[Comparison]] = {n: [] for n in iteration_counts}
    points = [("base case", OperatingState())] + (list(sweep_states(net)) if sweep else [])
    for label, state in points:
        reference = base if label == "base case" else opendss_pf.solve(net, state)
        for n in iteration_counts:
            started = time.perf_counter()
            linear = model.solve(state, iterations=n)
            elapsed_ms = 1000 * (time.perf_counter() - started)
            row = compare(label, linear, reference, elapsed_ms, s_base, net)
            if row.law_step_loads and n:
                row = dataclasses.replace(row, from_reference_max_v_err_pct=shared_solution(model, reference))
            rows[n].append(row)
    return rows


SHARED_ITERATIONS = 100
# The model's own accuracy (seed 004's Table III, max voltage error): a load this close to its step
# on the other side of it than OpenDSS is, is on the step as far as the model can tell.
MODEL_BAND_PCT = 0.07


def shared_solution(model: lindist3flow.LinDist3FlowModel, reference: PowerFlowResult) -> float:
    """Max |V| error (%) of the model's refreshes started at `reference` (a nonlinear solution of
    the same state) and run until they settle: whether that solution is also the model's.

    First with every load held on the side of its step it has in `reference`: if the model settles
    there with each load on that side, or within `MODEL_BAND_PCT` of its step, OpenDSS's solution is
    one of the model's to within the model's accuracy, and that error is the answer. Unheld, loads a
    hair from their step (ckt5, 1.2 × load, PV absorbing) cross it on the model's 0.01 % and the
    refreshes walk to the other solution; that is the answer only when the held one is not a solution."""
    assert reference.state is not None
    held = model.solve(reference.state, iterations=SHARED_ITERATIONS, start=reference, hold_sides=True)
    if held.converged and not law_step_loads(model.net, held, reference, MODEL_BAND_PCT):
        return max(voltage_error_pct(held, reference).values())
    ours = model.solve(reference.state, iterations=SHARED_ITERATIONS, start=reference)
    return max(voltage_error_pct(ours, reference).values())
