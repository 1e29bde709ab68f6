"""Power-flow studies on a feeder: one solve with either engine, and the validation sweep of
LinDist3Flow against OpenDSS. Engineering units at the edges (kW, kvar, pu)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.network import DerInjection, Network, OperatingState, PowerFlowResult, voltage_error_pct

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
    negative absorbs."""
    if share <= 0:
        return {}
    load_kw: dict[tuple[str, int], float] = {}
    for ld in net.loads:
        for p in ld.phases:
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


def compare(
    label: str, linear: PowerFlowResult, reference: PowerFlowResult, linear_ms: float, s_base_kva: float
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
    )


def validate(net: Network, *, sweep: bool = True, iterations: int = REFRESH_ITERATIONS) -> list[Comparison]:
    """LinDist3Flow (calibrated once at the base case, then `iterations` refreshes) against OpenDSS
    at the base case and at every sweep point."""
    base = opendss_pf.solve(net)
    s_base = math.hypot(base.substation_p_kw, base.substation_q_kvar)
    model = lindist3flow.build(net, base)
    rows = []
    points = [("base case", OperatingState())] + (list(sweep_states(net)) if sweep else [])
    for label, state in points:
        reference = base if label == "base case" else opendss_pf.solve(net, state)
        started = time.perf_counter()
        linear = model.solve(state, iterations=iterations)
        rows.append(compare(label, linear, reference, 1000 * (time.perf_counter() - started), s_base))
    return rows
