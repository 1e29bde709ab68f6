"""Load allocation: the feeder's loads scaled so that its power flow draws what the substation meter
measured (issue #12 item 4), instead of solving at the nameplate load of the imported model.

Method (the usual one when only the feeder head is metered, as OpenDSS's `AllocateLoads` does from
an EnergyMeter): every load keeps its share of the feeder's load and its own power factor's *shape*,
but all active powers are multiplied by one factor `k_p` and all reactive powers by one factor
`k_q`. The DERs sit at their present output and the source at the measured voltage. The factors are
found by Newton steps on the OpenDSS power flow, with the nominal load sums as the derivatives
(dP_sub/dk_p ≈ ΣP_load, dQ_sub/dk_q ≈ ΣQ_load): losses and voltage-dependent loads make the
relation slightly non-linear, so a few rounds are needed. A measurement the loads cannot explain —
a factor that would have to be negative or absurdly large — is not forced: the factor stops at its
bound and the allocation says it did not match. Framework-free: no Django here."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from apps.dms.engine import opendss_pf
from apps.dms.engine.dispatch_types import DerState
from apps.dms.engine.network import DerInjection, Network, OperatingState

K_MAX = 5.0  # loads five times their nameplate: the model, or the meter, is wrong
ROUNDS = 8
TOL_SHARE = 1e-3  # of the measured |P| / |Q|, with a floor of TOL_FLOOR_KW
TOL_FLOOR_KW = 1.0
MIN_LOAD_KVAR = 1e-6  # a feeder whose loads draw no Q cannot be allocated in Q


@dataclasses.dataclass(frozen=True)
class HeadMeasurement:
    """The substation meter at the feeder head: P and Q drawn from the transmission system (+ =
    import), per feeder, and the voltage in pu."""

    p_kw: float
    q_kvar: float
    v_pu: float


@dataclasses.dataclass(frozen=True)
class Allocation:
    k_p: float
    k_q: float
    model_p_kw: float  # the allocated feeder's substation P and Q at the present DER outputs
    model_q_kvar: float
    matched: bool  # within tolerance of the measurement on both P and Q
    rounds: int
    note: str = ""

    def as_json(self, measured: HeadMeasurement) -> dict[str, object]:
        return {
            "method": "head P/Q scaling",
            "measured_p_kw": measured.p_kw,
            "measured_q_kvar": measured.q_kvar,
            "measured_v_pu": measured.v_pu,
            **dataclasses.asdict(self),
        }


def scaled_loads(net: Network, k_p: float, k_q: float) -> Network:
    """`net` with every load's P multiplied by `k_p` and its Q by `k_q`."""
    loads = tuple(dataclasses.replace(ld, p_kw=ld.p_kw * k_p, q_kvar=ld.q_kvar * k_q) for ld in net.loads)
    return dataclasses.replace(net, loads=loads)


def check_measurement(m: HeadMeasurement) -> str:
    """Why the measurement cannot be allocated to, or ""."""
    if not all(math.isfinite(x) for x in (m.p_kw, m.q_kvar, m.v_pu)):
        return "the substation measurement must be finite numbers"
    if not 0.5 <= m.v_pu <= 1.5:
        return f"a substation voltage of {m.v_pu:g} pu is not a measurement of a feeder in service"
    return ""


def allocate(net: Network, ders: Mapping[str, DerInjection], measured: HeadMeasurement) -> Allocation:
    """The load factors that make `net`, with `ders` at their present output and the source at the
    measured voltage, draw the measured P and Q at the substation; ValueError for a bad measurement."""
    problem = check_measurement(measured)
    if problem:
        raise ValueError(problem)
    p_load = sum(ld.p_kw for ld in net.loads)
    q_load = sum(ld.q_kvar for ld in net.loads)
    if p_load <= 0:
        raise ValueError(f"feeder {net.name} has no load to allocate the measurement to")
    fit_q = abs(q_load) > MIN_LOAD_KVAR
    k_p = k_q = 1.0
    tol_p = max(TOL_SHARE * abs(measured.p_kw), TOL_FLOOR_KW)
    tol_q = max(TOL_SHARE * abs(measured.q_kvar), TOL_FLOOR_KW)
    state = OperatingState(1.0, dict(ders), {}, measured.v_pu)
    result = opendss_pf.solve(scaled_loads(net, k_p, k_q), state)
    rounds = 1
    while rounds < ROUNDS and result.converged:
        miss_p = measured.p_kw - result.substation_p_kw
        miss_q = measured.q_kvar - result.substation_q_kvar
        if abs(miss_p) <= tol_p and (abs(miss_q) <= tol_q or not fit_q):
            break
        new_p = _bounded(k_p + miss_p / p_load)
        new_q = _bounded(k_q + miss_q / q_load) if fit_q else k_q
        if (new_p, new_q) == (k_p, k_q):  # both at a bound: the loads cannot explain the meter
            break
        k_p, k_q = new_p, new_q
        result = opendss_pf.solve(scaled_loads(net, k_p, k_q), state)
        rounds += 1
    p_ok = abs(measured.p_kw - result.substation_p_kw) <= tol_p
    q_ok = abs(measured.q_kvar - result.substation_q_kvar) <= tol_q or not fit_q
    notes = []
    if not result.converged:
        notes.append("OpenDSS did not converge at the allocated load")
    if not p_ok:
        notes.append(f"the loads cannot draw the measured P (load factor stopped at {k_p:.3f})")
    if not q_ok:
        notes.append(f"the loads cannot draw the measured Q (load factor stopped at {k_q:.3f})")
    if not fit_q:
        notes.append("the feeder's loads draw no Q: their Q was left as modelled")
    matched = result.converged and p_ok and q_ok
    return Allocation(
        k_p, k_q, result.substation_p_kw, result.substation_q_kvar, matched, rounds, "; ".join(notes)
    )


def _bounded(k: float) -> float:
    return min(max(k, 0.0), K_MAX)


def present_injections(ders: Sequence[DerState]) -> dict[str, DerInjection]:
    """Each online DER at what it gives now: a PV unit's present P and Q, a controllable load's
    present reduction (as an injection)."""
    return {d.name: DerInjection(d.bus, d.phases, d.p_kw, d.q_kvar) for d in ders if d.online}
