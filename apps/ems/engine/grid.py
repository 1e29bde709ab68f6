"""The transmission study of the volt/var OPF: a case, its outages, its DSO interfaces and its controls.

``build_study`` turns a case into a pandapower net whose controllable parts are named: generator
voltage set points, switched shunt banks, one load per DSO interface (its feeders' base demand, minus
the Q it is asked to inject, plus curtailed PV, minus demand response). ``solve`` runs pandapower's
Newton–Raphson power flow and returns the operating point with the sensitivities the LP needs, taken
from the converged Jacobian (∂S/∂θ, ∂S/∂|V| and ∂I_branch/∂V of pandapower's internal Ybus, Yf, Yt).
Everything here is per-unit on the case's base MVA. Framework-free: no Django here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from apps.ems.engine.case import Injection, bus_index, bus_number_of, bus_numbers
from apps.ems.engine.dso import DsoInterface, check_dsos
from apps.ems.engine.whatif import build_net, describe

FArray = NDArray[np.float64]
IArray = NDArray[np.int64]
SET_POINT_RANGE = (0.9, 1.1)  # pu, generator set points; the bus rows hold them to V_MIN_PU–V_MAX_PU
SHUNT_STEPS = 8  # a case shunt becomes a bank of 8 steps of a quarter of its size (0–200 %)
SHUNT_START = 4  # steps in service at the case's own operating point
UNRATED_MVA = 9000.0  # MATPOWER writes 9900 (or 0) for "no rating"
NR_TOLERANCE = 1e-8  # pu mismatch (pandapower's default)
NR_MAX_ITERATIONS = 10


@dataclass
class Controls:
    """The decision values (pu): set point per generator bus, steps per shunt bank, and per DSO the
    total Q injected into the bus, PV curtailed and demand response."""

    v_set: FArray
    shunt_steps: FArray
    dso_q: FArray
    curtail: FArray
    dr: FArray

    def copy(self) -> Controls:
        return Controls(*(np.array(a, dtype=float) for a in self.vectors()))

    def vectors(self) -> tuple[FArray, FArray, FArray, FArray, FArray]:
        return self.v_set, self.shunt_steps, self.dso_q, self.curtail, self.dr


@dataclass
class Study:
    net: Any
    case: str
    title: str
    base_mva: float
    gen_buses: IArray  # pandapower bus index per set-point control
    shunt_unit: FArray  # pu Q consumed at 1 pu by one step
    dsos: list[DsoInterface]
    dso_loads: IArray  # pandapower load index per DSO
    dso_bus: IArray  # pandapower bus index per DSO
    base_p: FArray  # pu, total per DSO
    base_q: FArray
    q_lo: FArray  # pu, total Q injection range per DSO
    q_hi: FArray
    curtail_hi: FArray
    dr_hi: FArray
    start: Controls = field(init=False)


@dataclass(frozen=True)
class Point:
    """A converged operating point (internal bus order of pandapower's ppci) and its sensitivities."""

    vm: FArray
    ref: IArray
    pv: IArray
    pq: IArray
    ppc_bus: IArray  # pandapower bus index → ppci index
    dp: Any  # sparse (n, 2n): ∂P/∂[θ, |V|]
    dq: Any  # sparse (n, 2n): ∂Q/∂[θ, |V|]
    gen_at: IArray  # ppci buses with generators (set-point controlled)
    qg: FArray  # pu, generators' total Q at those buses
    qg_min: FArray
    qg_max: FArray
    branch_ends_bus: IArray  # (rated, 2): ppci buses at the ends of each rated branch
    branch_current: FArray  # pu, max over the ends, rated branches
    branch_limit: FArray
    branch_grad: Any  # sparse (2 × rated, 2n): ∂|I| at the from end, then the to end
    branch_ends: FArray  # |I| per row of branch_grad
    branch_end_limit: FArray  # pu rating per row of branch_grad
    losses: float  # pu


def build_study(
    case: str, dsos: Sequence[DsoInterface], outages: Sequence[str], injections: Sequence[Injection] = ()
) -> Study:
    """The net of the study with its DSO loads and shunt banks; ``ValueError`` on bad input."""
    name = case.strip().lower()
    net = build_net(name, injections, outages)
    check_dsos(dsos, set(bus_numbers(net)), name)
    base = float(net.sn_mva)
    dso_bus = np.array([bus_index(net, name, d.bus) for d in dsos], dtype=np.int64)
    base_p, base_q = _dso_base_demand(net, dsos, dso_bus, base)
    loads = [_add_dso_load(net, d, int(b)) for d, b in zip(dsos, dso_bus, strict=True)]
    per = np.array([d.count for d in dsos], dtype=float) / (1000.0 * base)  # kW per feeder → pu total
    study = Study(
        net=net,
        case=name,
        title=describe(name, injections, outages),
        base_mva=base,
        gen_buses=_generator_buses(net),
        shunt_unit=_make_shunt_banks(net, base),
        dsos=list(dsos),
        dso_loads=np.array(loads, dtype=np.int64),
        dso_bus=dso_bus,
        base_p=base_p,
        base_q=base_q,
        q_lo=per * np.array([d.q_min_kvar for d in dsos], dtype=float),
        q_hi=per * np.array([d.q_max_kvar for d in dsos], dtype=float),
        curtail_hi=per * np.array([d.pv_kw for d in dsos], dtype=float),
        dr_hi=per * np.array([d.dr_kw for d in dsos], dtype=float),
    )
    study.start = _initial_controls(study)
    return study


def _dso_base_demand(
    net: Any, dsos: Sequence[DsoInterface], buses: IArray, base: float
) -> tuple[FArray, FArray]:
    """Per DSO total base demand (pu); the case's own loads at a DSO bus give way to its feeders."""
    p, q = np.zeros(len(dsos)), np.zeros(len(dsos))
    for bus in set(int(b) for b in buses):
        at = (net.load.bus == bus) & net.load.in_service
        case_p, case_q = float(net.load.p_mw[at].sum()), float(net.load.q_mvar[at].sum())
        feeders = sum(d.count for d, b in zip(dsos, buses, strict=True) if b == bus)
        net.load.loc[at, "in_service"] = False
        for k, d in enumerate(dsos):
            if buses[k] == bus:
                p[k] = d.count * d.p_kw / 1000.0 if d.p_kw is not None else case_p * d.count / feeders
                q[k] = d.count * d.q_kvar / 1000.0 if d.q_kvar is not None else case_q * d.count / feeders
    return p / base, q / base


def _add_dso_load(net: Any, dso: DsoInterface, bus: int) -> int:
    import pandapower as pp

    return int(pp.create_load(net, bus, p_mw=0.0, q_mvar=0.0, name=dso.label()))


def _generator_buses(net: Any) -> IArray:
    buses = list(net.ext_grid.bus[net.ext_grid.in_service]) + list(net.gen.bus[net.gen.in_service])
    return np.array(sorted(set(int(b) for b in buses)), dtype=np.int64)


def _make_shunt_banks(net: Any, base: float) -> FArray:
    unit = net.shunt.q_mvar.to_numpy(dtype=float) / SHUNT_START
    net.shunt["step"] = 1
    net.shunt["max_step"] = 1
    return np.asarray(unit / base, dtype=float)


def _initial_controls(study: Study) -> Controls:
    net = study.net
    v_set = np.ones(len(study.gen_buses))
    for table in (net.gen, net.ext_grid):
        for bus, vm in zip(table.bus, table.vm_pu, strict=True):
            v_set[study.gen_buses == int(bus)] = float(vm)
    zeros = np.zeros(len(study.dsos))
    return Controls(
        v_set=v_set,
        shunt_steps=np.full(len(study.shunt_unit), float(SHUNT_START)),
        dso_q=np.clip(zeros, study.q_lo, study.q_hi),
        curtail=zeros.copy(),
        dr=zeros.copy(),
    )


def apply(study: Study, controls: Controls) -> None:
    """Write the controls into the net (engineering units there)."""
    net, base = study.net, study.base_mva
    for table in (net.gen, net.ext_grid):
        lookup = {int(b): float(v) for b, v in zip(study.gen_buses, controls.v_set, strict=True)}
        table["vm_pu"] = [lookup[int(b)] for b in table.bus]
    net.shunt["q_mvar"] = study.shunt_unit * controls.shunt_steps * base
    p = study.base_p + controls.curtail - controls.dr
    q = study.base_q - controls.dso_q
    net.load.loc[study.dso_loads, "p_mw"] = p * base
    net.load.loc[study.dso_loads, "q_mvar"] = q * base


def run_power_flow(study: Study, controls: Controls) -> None:
    """Newton–Raphson on the controls; ``ValueError`` naming the study if it fails or islands a bus."""
    import pandapower as pp

    apply(study, controls)
    net = study.net
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(net, algorithm="nr", numba=False, calculate_voltage_angles=True)
    except pp.LoadflowNotConverged as exc:
        raise ValueError(f"The power flow of {study.title} did not converge (Newton–Raphson).") from exc
    vm = net.res_bus.vm_pu.to_numpy(dtype=float)
    if not net.converged or not np.isfinite(vm[net.bus.in_service.to_numpy()]).all():
        number = bus_number_of(net)
        dead = sorted(number[int(i)] for i in net.bus.index[~np.isfinite(vm)])
        detail = f": bus(es) {', '.join(map(str, dead))} are cut off from every generator" if dead else ""
        raise ValueError(f"The power flow of {study.title} cannot be solved{detail}.")


@dataclass(frozen=True)
class Flow:
    """Pandapower's internal model (ppci) of the study at its start controls, reused by ``fast_point``:
    the controls change only the demand at DSO buses, shunt admittances and set-point magnitudes."""

    ybus0: Any
    yf: Any
    yt: Any
    branch: Any
    s0: NDArray[np.complex128]  # pu injections at the start (converged)
    qd0: FArray  # pu Q demand per ppci bus at the start
    v0: NDArray[np.complex128]
    ref: IArray
    pv: IArray
    pq: IArray
    ppc_bus: IArray
    start: Controls
    base_mva: float


def exact_point(study: Study, controls: Controls, rated_share: float = 0.5) -> tuple[Point, Flow]:
    """Pandapower's Newton–Raphson power flow, then the point and its Jacobian-based sensitivities."""
    run_power_flow(study, controls)
    ppci = study.net._ppc["internal"]
    v = np.asarray(ppci["V"], dtype=complex)
    flow = Flow(
        ybus0=ppci["Ybus"].tocsr(),
        yf=ppci["Yf"].tocsr(),
        yt=ppci["Yt"].tocsr(),
        branch=ppci["branch"],
        s0=v * np.conj(ppci["Ybus"] @ v),
        qd0=np.asarray(ppci["bus"][:, 3].real, dtype=float) / study.base_mva,
        v0=v,
        ref=np.asarray(ppci["ref"], dtype=np.int64),
        pv=np.asarray(ppci["pv"], dtype=np.int64),
        pq=np.asarray(ppci["pq"], dtype=np.int64),
        ppc_bus=np.asarray(study.net._pd2ppc_lookups["bus"], dtype=np.int64),
        start=controls.copy(),
        base_mva=study.base_mva,
    )
    return _point(study, flow, flow.ybus0, v, flow.qd0, rated_share), flow


def fast_point(study: Study, flow: Flow, controls: Controls, rated_share: float = 0.5) -> Point:
    """The same power flow solved on the stored ppci (no pandapower round trip): ``ValueError`` if
    Newton–Raphson does not converge."""
    n = len(flow.v0)
    shunt_bus = flow.ppc_bus[study.net.shunt.bus.to_numpy(dtype=np.int64)]
    dy = -1j * study.shunt_unit * (controls.shunt_steps - flow.start.shunt_steps)
    ybus = (flow.ybus0 + sparse.csr_matrix((dy, (shunt_bus, shunt_bus)), shape=(n, n))).tocsr()
    dso = flow.ppc_bus[study.dso_bus]
    dp = (controls.curtail - controls.dr) - (flow.start.curtail - flow.start.dr)
    dq = flow.start.dso_q - controls.dso_q
    d_demand = np.zeros(n, dtype=complex)
    np.add.at(d_demand, dso, dp + 1j * dq)
    vm = np.abs(flow.v0)
    vm[flow.ppc_bus[study.gen_buses]] = controls.v_set
    v = newton(ybus, flow.s0 - d_demand, vm * np.exp(1j * np.angle(flow.v0)), flow)
    return _point(study, flow, ybus, v, flow.qd0 + d_demand.imag, rated_share)


def newton(
    ybus: Any, sbus: NDArray[np.complex128], v: NDArray[np.complex128], flow: Flow
) -> NDArray[np.complex128]:
    """Newton–Raphson in polar form (MATPOWER's newtonpf): P at PV and PQ buses, Q at PQ buses."""
    from pandapower.pypower.dSbus_dV import dSbus_dV
    from scipy.sparse.linalg import spsolve

    pvpq = np.concatenate([flow.pv, flow.pq])
    npvpq = len(pvpq)
    vm, va = np.abs(v), np.angle(v)
    for _ in range(NR_MAX_ITERATIONS):
        mis = v * np.conj(ybus @ v) - sbus
        f = np.concatenate([mis.real[pvpq], mis.imag[flow.pq]])
        if np.abs(f).max() < NR_TOLERANCE:
            return v
        ds_dvm, ds_dva = dSbus_dV(ybus, v)
        j = sparse.vstack(
            [
                sparse.hstack([ds_dva[pvpq][:, pvpq].real, ds_dvm[pvpq][:, flow.pq].real]),
                sparse.hstack([ds_dva[flow.pq][:, pvpq].imag, ds_dvm[flow.pq][:, flow.pq].imag]),
            ]
        ).tocsc()
        dx = spsolve(j, -f)
        va[pvpq] += dx[:npvpq]
        vm[flow.pq] += dx[npvpq:]
        v = vm * np.exp(1j * va)
    raise ValueError("Newton–Raphson did not converge.")


def _point(study: Study, flow: Flow, ybus: Any, v: NDArray[np.complex128], qd: FArray, share: float) -> Point:
    from pandapower.pypower.dSbus_dV import dSbus_dV

    ds_dvm, ds_dva = dSbus_dV(ybus, v)
    ds = sparse.hstack([ds_dva, ds_dvm]).tocsr()
    s = v * np.conj(ybus @ v)
    gen_at = flow.ppc_bus[study.gen_buses]
    qmin, qmax = _generator_q_limits(study)
    current, limit, grad, ends, end_limit = _branch_sensitivities(flow, v, share)
    rated = _rated(flow.branch)
    return Point(
        vm=np.abs(v),
        ref=flow.ref,
        pv=flow.pv,
        pq=flow.pq,
        ppc_bus=flow.ppc_bus,
        dp=sparse.csr_matrix(ds.real),
        dq=sparse.csr_matrix(ds.imag),
        gen_at=gen_at,
        qg=s.imag[gen_at] + qd[gen_at],
        qg_min=qmin,
        qg_max=qmax,
        branch_ends_bus=flow.branch[rated][:, :2].real.astype(np.int64),
        branch_current=current,
        branch_limit=limit,
        branch_grad=grad,
        branch_ends=ends,
        branch_end_limit=end_limit,
        losses=float(s.real.sum()),
    )


def _generator_q_limits(study: Study) -> tuple[FArray, FArray]:
    """Q limits (pu) of the generators at each set-point bus, from the case's tables."""
    net, base, k_of = study.net, study.base_mva, {int(b): k for k, b in enumerate(study.gen_buses)}
    qmin, qmax = np.zeros(len(k_of)), np.zeros(len(k_of))
    for table in (net.gen, net.ext_grid):
        live = table[table.in_service]
        lows = live["min_q_mvar"] if "min_q_mvar" in live else np.full(len(live), np.nan)
        highs = live["max_q_mvar"] if "max_q_mvar" in live else np.full(len(live), np.nan)
        for bus, low, high in zip(live.bus, lows, highs, strict=True):
            k = k_of[int(bus)]
            qmin[k] += float(low) / base if np.isfinite(low) else -math.inf
            qmax[k] += float(high) / base if np.isfinite(high) else math.inf
    return qmin, qmax


def _rated(branch: Any) -> IArray:
    """Rows of the in-service branches with a rating."""
    rate = branch[:, 5].real
    return np.flatnonzero((rate > 0) & (rate < UNRATED_MVA) & (branch[:, 10].real > 0))


def _branch_sensitivities(
    flow: Flow, v: NDArray[np.complex128], share: float
) -> tuple[FArray, FArray, Any, FArray, FArray]:
    """|I| at both ends of every rated in-service branch (pu), and ∂|I|/∂[θ, |V|] of the ends loaded
    above ``share`` of the rating (the others cannot reach it within one trust region)."""
    from pandapower.pypower.dIbr_dV import dIbr_dV

    branch, base = flow.branch, flow.base_mva
    rate = branch[:, 5].real
    rated = _rated(branch)
    i_f, i_t = flow.yf[rated] @ v, flow.yt[rated] @ v
    limit = rate[rated] / base
    current = np.maximum(np.abs(i_f), np.abs(i_t))
    hot = current > share * limit
    sub = branch[rated[hot]]
    if not hot.any():
        return current, limit, sparse.csr_matrix((0, 2 * len(v))), np.zeros(0), np.zeros(0)
    df_va, df_vm, dt_va, dt_vm, cf, ct = dIbr_dV(sub, flow.yf[rated[hot]], flow.yt[rated[hot]], v)
    rows = []
    for d_va, d_vm, i in ((df_va, df_vm, cf), (dt_va, dt_vm, ct)):
        unit = sparse.diags(np.conj(i) / np.maximum(np.abs(i), 1e-9))
        rows.append(sparse.hstack([unit @ d_va, unit @ d_vm]).real)
    ends = np.concatenate([np.abs(cf), np.abs(ct)])
    return current, limit, sparse.vstack(rows).tocsr(), ends, np.concatenate([limit[hot], limit[hot]])
