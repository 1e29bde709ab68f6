"""Write a `Network` (and an operating state) as OpenDSS script text, so OpenDSS solves the stored model.

Lines carry their full impedance matrices in ohms (length=1 units=none), transformers their ratings,
%R/%X and fixed taps; no control elements are written, so regulator taps and capacitor states stay as
stored (or as the state sets them). Switches are written as plain lines: OpenDSS's `switch=yes` would
replace the stored impedance with its own. DER injections become Generator model 1 (constant P and Q) with
voltage limits far outside any operating point, so OpenDSS never converts them to constant impedance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from apps.dms.engine.dss_elements import ZIP_PARTS
from apps.dms.engine.network import (
    Capacitor,
    Conn,
    DerInjection,
    Generator,
    Line,
    Load,
    Network,
    OperatingState,
    ShuntReactor,
    Transformer,
    check_ders,
    checked_taps,
    shunt_windings,
)


def to_dss(net: Network, state: OperatingState | None = None) -> list[str]:
    """OpenDSS commands that build and solve `net` at `state`; run them in order after nothing else."""
    state = state or OperatingState()
    taps = checked_taps(net, state)
    check_ders(net, state)
    generators = {g.name: (_safe(g.name), g) for g in net.generators}
    for i, (name, der) in enumerate(state.ders.items()):
        generators[name] = (f"der{i}_{_safe(name)}", _der_as_generator(net, name, der))  # unique in OpenDSS
    cmds = ["clear", f"set defaultbasefrequency={net.frequency_hz!r}", _source(net, state)]
    cmds += [_line(x, net.frequency_hz) for x in net.lines]
    cmds += [_transformer(x, taps.get(x.name, x.tap)) for x in net.transformers]
    cmds += [_load(x) for x in net.loads]
    cmds += [_capacitor(x) for x in net.capacitors]
    cmds += [_shunt_reactor(x) for x in net.shunt_reactors]
    cmds += [_generator(dss_name, x) for dss_name, x in generators.values()]
    bases = sorted({round(b.base_kv_ln * math.sqrt(3), 9) for b in net.buses})
    cmds += [f"set voltagebases=[{' '.join(map(repr, bases))}]", "calcvoltagebases"]
    cmds += [
        f"set loadmult={state.load_scale!r}",
        "set controlmode=off",
        "set maxiterations=100",
        "set tolerance=1e-9",
        "solve",
    ]
    return cmds


def _num(x: float) -> str:
    return repr(float(x))


def _nodes(bus: str, phases: Iterable[int]) -> str:
    return ".".join([bus, *map(str, phases)])


def _lower_triangle(m: np.ndarray) -> str:
    return "[" + " | ".join(" ".join(_num(m[i, j]) for j in range(i + 1)) for i in range(m.shape[0])) + "]"


def _source(net: Network, state: OperatingState) -> str:
    z = np.array(net.source_z_ohm, dtype=complex)
    zs, zm = np.mean(np.diag(z)), (z.sum() - np.trace(z)) / 6.0
    z1, z0 = zs - zm, zs + 2.0 * zm  # the symmetric source matrix in sequence terms
    pu = state.source_pu if state.source_pu is not None else net.source_pu
    return (
        f"new circuit.{_safe(net.name)} bus1={_nodes(net.source_bus, (1, 2, 3))} phases=3 "
        f"basekv={_num(net.source_kv_ll)} pu={_num(pu)} angle={_num(net.source_angle_deg)} "
        f"z1=[{_num(z1.real)} {_num(z1.imag)}] z0=[{_num(z0.real)} {_num(z0.imag)}]"
    )


def _line(x: Line, frequency_hz: float) -> str:
    z = x.z_matrix()
    c_nf = x.b_matrix_us() * 1e3 / (2.0 * math.pi * frequency_hz)
    return (
        f"new line.{x.name} phases={len(x.phases)} bus1={_nodes(x.bus_from, x.phases)} "
        f"bus2={_nodes(x.bus_to, x.phases)} length=1 units=none basefreq={_num(frequency_hz)} "
        f"rmatrix={_lower_triangle(z.real)} xmatrix={_lower_triangle(z.imag)} cmatrix={_lower_triangle(c_nf)}"
    )


def _transformer(x: Transformer, tap: Sequence[float]) -> str:
    if len(set(tap)) > 1:
        raise ValueError(f"Transformer {x.name} is ganged; all its phases need the same tap, not {tap}.")
    if x.is_center_tap:
        return _center_tap(x, tap[0])
    nph = x.windings
    primary = _nodes(x.bus_from, x.phases) + (f".{x.neutral_from}" if x.neutral_from else "")
    buses = f"[{primary} {_nodes(x.bus_to, x.secondary_phases)}]"
    return (
        f"new transformer.{x.name} phases={nph} windings=2 buses={buses} conns=[{x.conn_from} {x.conn_to}] "
        f"kvs=[{_num(x.kv_from)} {_num(x.kv_to)}] kvas=[{_num(x.kva)} {_num(x.kva)}] "
        f"%rs=[{_num(x.r_pct / 2)} {_num(x.r_pct / 2)}] xhl={_num(x.x_pct)} leadlag={x.lead_lag} "
        f"maxtap={_num(x.tap_max)} mintap={_num(x.tap_min)} numtaps={x.num_taps} "
        f"taps=[1.0 {_num(tap[0])}] %imag={_num(x.imag_pct)} %noloadloss={_num(x.noload_pct)} "
        f"ppm_antifloat={_num(x.ppm_antifloat)}"
    )


def _center_tap(x: Transformer, tap: float) -> str:
    r1, r2, r3, xhl, xht, xlt = x.center_tap_pct
    (a, b), kva = x.phases_to, _num(x.kva)
    buses = f"[{_nodes(x.bus_from, x.phases)} {x.bus_to}.{a}.0 {x.bus_to}.0.{b}]"
    return (
        f"new transformer.{x.name} phases=1 windings=3 buses={buses} conns=[{x.conn_from} wye wye] "
        f"kvs=[{_num(x.kv_from)} {_num(x.kv_to)} {_num(x.kv_to)}] kvas=[{kva} {kva} {kva}] "
        f"%rs=[{_num(r1)} {_num(r2)} {_num(r3)}] xhl={_num(xhl)} xht={_num(xht)} xlt={_num(xlt)} "
        f"maxtap={_num(x.tap_max)} mintap={_num(x.tap_min)} numtaps={x.num_taps} "
        f"taps=[1.0 {_num(tap)} {_num(tap)}] %imag={_num(x.imag_pct)} %noloadloss={_num(x.noload_pct)} "
        f"ppm_antifloat={_num(x.ppm_antifloat)}"
    )


def _shunt_phases(phases: tuple[int, ...], conn: Conn) -> int:
    return len(shunt_windings(conn, phases, 0.0)[0])


def _load(x: Load) -> str:
    return (
        f"new load.{x.name} bus1={_nodes(x.bus, x.phases)} phases={_shunt_phases(x.phases, x.conn)} "
        f"conn={x.conn} kv={_num(x.kv)} kw={_num(x.p_kw)} kvar={_num(x.q_kvar)} {_model(x)} "
        f"vminpu={_num(x.vmin_pu)} vmaxpu={_num(x.vmax_pu)} vlowpu={_num(x.vlow_pu)}"
        + (f" cvrwatts={_num(x.cvr_watts)} cvrvars={_num(x.cvr_vars)}" if x.model == 4 else "")
    )


ZIP_POSITION = {model: k for k, (_, model) in enumerate(ZIP_PARTS)}  # a part's place among ZIPV's


def _model(x: Load) -> str:
    """`model=N`; a ZIP part with a drop-out voltage goes back as the ZIP load of that part alone."""
    if x.zip_cutoff_pu <= 0:
        return f"model={x.model}"
    zipv = [0.0] * 6 + [x.zip_cutoff_pu]
    zipv[ZIP_POSITION[x.model]] = zipv[ZIP_POSITION[x.model] + 3] = 1.0
    return f"model=8 zipv=[{' '.join(_num(c) for c in zipv)}]"


def _capacitor(x: Capacitor) -> str:
    return (
        f"new capacitor.{x.name} bus1={_nodes(x.bus, x.phases)} phases={_shunt_phases(x.phases, x.conn)} "
        f"conn={x.conn} kvar={_num(x.kvar)} kv={_num(x.kv)}"
    )


def _shunt_reactor(x: ShuntReactor) -> str:
    """By its winding impedance in ohms, which OpenDSS takes as given (a wye one's second bus is ground)."""
    z = x.winding_ohm
    return (
        f"new reactor.{x.name} bus1={_nodes(x.bus, x.phases)} phases={len(x.phases)} conn={x.conn} "
        f"r={_num(z.real)} x={_num(z.imag)}"
    )


def _generator(dss_name: str, x: Generator) -> str:
    return (
        f"new generator.{dss_name} bus1={_nodes(x.bus, x.phases)} "
        f"phases={_shunt_phases(x.phases, x.conn)} conn={x.conn} kv={_num(x.kv)} kw={_num(x.p_kw)} "
        f"kvar={_num(x.q_kvar)} kva={_num(x.kva)} model=1 vminpu=0.5 vmaxpu=2.0"
    )


def _der_as_generator(net: Network, name: str, der: DerInjection) -> Generator:
    bus = net.bus[der.bus]
    kv = bus.base_kv_ln * (1.0 if len(der.phases) == 1 else math.sqrt(3))
    kva = max(abs(complex(der.p_kw, der.q_kvar)), 1e-3)
    return Generator(name, der.bus, tuple(der.phases), der.p_kw, der.q_kvar, kva, kv)


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9_\-]", "_", name.lower()) or "feeder"
