"""DMS dispatch (seed 000 §3.1.2) on IEEE 123 with 100 single-phase PV units placed the paper's way
(penetration 0.9, inverters 1.1 × PV peak), PV at 60 % of its peak now. Every answer is replayed in
OpenDSS here, independently of the engine's own check."""

from __future__ import annotations

import dataclasses
import math
import re
from functools import cache

import numpy as np
import pytest

from apps.capability.engine.curve import capability_curve
from apps.capability.engine.flexibility import with_flexibility
from apps.capability.engine.pv import PVUnit, add_pv
from apps.dms.engine import dispatch_lp, opendss_pf
from apps.dms.engine.dispatch import dispatch
from apps.dms.engine.dispatch_lp import SIDES
from apps.dms.engine.dispatch_types import (
    DerState,
    DispatchInputError,
    DispatchOptions,
    DispatchRequest,
    DispatchResult,
    exclusion,
    format_age,
)
from apps.dms.engine.limited_nodes import constrained_nodes
from apps.dms.engine.lindist_elements import S_BASE_KVA
from apps.dms.engine.network import DerInjection, Network, OperatingState, PowerFlowResult
from tests.engine.test_capability_pv import feeder

SHARE = 0.6  # PV available now, of its peak
DISPATCH_ONLY = DispatchOptions()  # the next-interval flexibility is the capability engine's step
POLYGON = math.cos(math.pi / SIDES)  # the inscribed polygon's smallest radius, of S̄


@cache
def ieee123() -> Network:
    return feeder("ieee123")


@cache
def pv() -> tuple[DerState, ...]:
    units = add_pv(ieee123(), penetration=0.9, count=100, oversize=1.1, seed=1)
    return tuple(
        DerState(u.name, u.bus, u.phases, "pv", SHARE * u.p_avail_kw, u.s_rated_kva, SHARE * u.p_avail_kw)
        for u in units
    )


def replay(result: DispatchResult, ders: tuple[DerState, ...], v_sub: float) -> PowerFlowResult:
    """OpenDSS at the dispatched set points, excluded DERs at their present output."""
    by_name = {d.name: d for d in ders}
    inj = {
        s.name: DerInjection(by_name[s.name].bus, by_name[s.name].phases, s.p_limit_kw, s.q_kvar)
        for s in result.setpoints
    }
    for e in result.excluded:
        inj[e.name] = DerInjection(by_name[e.name].bus, by_name[e.name].phases, e.p_kw, e.q_kvar)
    return opendss_pf.solve(ieee123(), OperatingState(1.0, inj, {}, v_sub))


def worst_violation(result: PowerFlowResult) -> float:
    return max(max(0.95 - v, v - 1.05) for k, v in result.voltages_pu.items() if not k.startswith("150."))


@pytest.mark.parametrize(("q_kvar", "v_sub"), [(600.0, 0.98), (1800.0, 0.98), (200.0, 0.97)])
def test_a_feasible_request_is_met_within_2_pct_in_opendss(q_kvar: float, v_sub: float) -> None:
    result = dispatch(ieee123(), DispatchRequest(q_kvar, v_sub), pv(), DISPATCH_ONLY)
    check = replay(result, pv(), v_sub)
    assert abs(check.substation_q_kvar - q_kvar) <= 0.02 * abs(q_kvar)
    assert result.q_achieved_kvar == pytest.approx(check.substation_q_kvar, abs=1e-6)
    assert not result.shortfalls and not result.violations_after
    assert worst_violation(check) <= 1e-4
    rated = {d.name: d for d in pv()}
    for s in result.setpoints:  # inside the inverter disk and below the available PV
        d = rated[s.name]
        assert math.hypot(s.p_limit_kw, s.q_kvar) <= d.s_rated_kva + 1e-6
        assert -1e-6 <= s.p_limit_kw <= d.p_avail_kw + 1e-6


def test_an_infeasible_request_stops_at_the_inverter_limits_and_says_so() -> None:
    """Absorbing far more than 100 inverters can: every inverter on its polygon, absorbing, and the
    shortfall named a capability limit."""
    result = dispatch(ieee123(), DispatchRequest(6000.0, 1.0), pv(), DISPATCH_ONLY)
    rated = {d.name: d for d in pv()}
    for s in result.setpoints:
        assert math.hypot(s.p_limit_kw, s.q_kvar) >= POLYGON * rated[s.name].s_rated_kva - 1e-3
        assert s.q_kvar < 0
    (short,) = result.shortfalls
    assert short.quantity == "q" and short.cause == "capability limit"
    assert short.achieved == pytest.approx(replay(result, pv(), 1.0).substation_q_kvar, abs=1e-6)
    assert short.achieved < 5000.0


def test_stage_2_removes_the_violations_an_aggressive_request_creates() -> None:
    """Injecting 1200 kvar into a feeder at 0.98 pu drives the far laterals above 1.05 pu in stage 1;
    stage 2 gives up Q until OpenDSS finds none, and blames the voltage limit."""
    result = dispatch(ieee123(), DispatchRequest(-1200.0, 0.98), pv(), DISPATCH_ONLY)
    assert result.stage2_ran
    assert result.violations_before and all(v.limit == "high" for v in result.violations_before)
    assert not result.violations_after
    check = replay(result, pv(), 0.98)
    assert worst_violation(check) <= 1e-4
    (short,) = result.shortfalls
    assert short.cause == "voltage limit"
    assert check.substation_q_kvar < 0  # as much of the request as the limits allow


def test_a_shortfall_after_stage_2_splits_the_inverter_limits_from_the_voltage_limits() -> None:
    """Injecting 2500 kvar at 1.0 pu is beyond the inverters even at stage 1 (every one injecting),
    and stage 2 then turns some to absorbing to hold the voltages. The shortfall must not claim
    "every dispatched inverter is at its capacitive limit" while 40-odd absorb: it says how much
    the inverter limits leave and how much more the voltage limits cost, and blames the larger."""
    result = dispatch(ieee123(), DispatchRequest(-2500.0, 1.0), pv(), DISPATCH_ONLY)
    assert result.stage2_ran and result.kept_stage == 2
    assert any(s.q_kvar < 0 for s in result.setpoints)
    (short,) = [s for s in result.shortfalls if s.quantity == "q"]
    assert "every dispatched inverter is at its capacitive limit" not in short.detail
    numbers = [float(x) for x in re.findall(r"(\d+) kvar", short.detail)]
    total, inverters, voltages = numbers[:3]
    assert total == pytest.approx(short.achieved - short.requested, abs=1.0)
    assert inverters + voltages == pytest.approx(total, abs=1.5)
    assert short.cause == ("voltage limit" if voltages >= inverters else "capability limit")
    assert "capacitive limit" in short.detail and "voltage" in short.detail


def test_a_mild_request_skips_stage_2() -> None:
    result = dispatch(ieee123(), DispatchRequest(900.0, 0.98), pv(), DISPATCH_ONLY)
    assert not result.stage2_ran and not result.violations_before


def test_stale_and_comm_failed_ders_are_excluded_and_held_at_their_output() -> None:
    ders = list(pv())
    for k in range(0, 10):  # two intervals of 300 s is the limit
        ders[k] = dataclasses.replace(ders[k], telemetry_age_s=601.0, q_kvar=5.0)
    for k in range(10, 20):
        ders[k] = dataclasses.replace(ders[k], comm_ok=False)
    ders[20] = dataclasses.replace(ders[20], telemetry_age_s=599.0)  # still fresh
    result = dispatch(ieee123(), DispatchRequest(1500.0, 0.98), tuple(ders), DispatchOptions())
    dispatched = {s.name for s in result.setpoints}
    excluded = {e.name: e for e in result.excluded}
    assert dispatched.isdisjoint(excluded) and len(dispatched) == 80 and ders[20].name in dispatched
    assert {excluded[d.name].cause for d in ders[:10]} == {"DER unavailable"}
    assert {excluded[d.name].cause for d in ders[10:20]} == {"communication failure"}
    assert all(excluded[d.name].q_kvar == 5.0 for d in ders[:10])
    check = replay(result, tuple(ders), 0.98)
    assert check.substation_q_kvar == pytest.approx(result.q_achieved_kvar, abs=1e-6)
    assert abs(check.substation_q_kvar - 1500.0) <= 30.0
    result = with_flexibility(ieee123(), ders, result)
    full = with_flexibility(ieee123(), pv(), dispatch(ieee123(), DispatchRequest(1500.0, 0.98), pv()))
    assert result.flexibility is not None and full.flexibility is not None
    assert result.flexibility.q_max_kvar is not None and full.flexibility.q_max_kvar is not None
    assert result.flexibility.q_max_kvar < full.flexibility.q_max_kvar - 100  # fewer inverters


def test_a_shortfall_from_excluded_ders_names_the_communication_failure() -> None:
    ders = [dataclasses.replace(d, comm_ok=k >= 70) for k, d in enumerate(pv())]
    result = dispatch(ieee123(), DispatchRequest(3000.0, 1.0), tuple(ders), DISPATCH_ONLY)
    (short,) = [s for s in result.shortfalls if s.quantity == "q"]
    assert short.cause == "communication failure"
    assert "kvar" in short.detail


def test_demand_response_uses_the_cheapest_controllable_loads() -> None:
    loads = tuple(
        DerState(f"dr-{bus}", bus, (1,), "load", 60.0, 0.0, 0.0, dr_cost_per_kwh=cost)
        for bus, cost in (("1", 0.30), ("7", 0.10), ("8", 0.20))
    )
    ders = pv() + loads
    result = dispatch(ieee123(), DispatchRequest(1000.0, 0.98, dr_kw=100.0), ders, DISPATCH_ONLY)
    reduction = {s.name: s.p_limit_kw for s in result.setpoints if s.kind == "load"}
    assert reduction == pytest.approx({"dr-1": 0.0, "dr-7": 60.0, "dr-8": 40.0}, abs=1e-3)
    assert result.dr_kw == pytest.approx(100.0, abs=1e-3)
    assert not [s for s in result.shortfalls if s.quantity == "dr"]


def test_pv_curtailment_is_spread_and_met() -> None:
    result = dispatch(ieee123(), DispatchRequest(1000.0, 0.98, pv_curtailment_kw=300.0), pv(), DISPATCH_ONLY)
    assert result.pv_curtailment_kw == pytest.approx(300.0, abs=0.5)
    assert abs(result.q_achieved_kvar - 1000.0) <= 20.0


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (DispatchRequest(math.nan, 1.0), "not a number"),
        (DispatchRequest(5e7, 1.0), "beyond any feeder"),
        (DispatchRequest(100.0, 1.7), "outside"),
        (DispatchRequest(100.0, 1.0, dr_kw=-5.0), "≥ 0"),
        (DispatchRequest(100.0, math.inf), "not a number"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(request_: DispatchRequest, words: str) -> None:
    with pytest.raises(DispatchInputError, match=words):
        dispatch(ieee123(), request_, pv(), DISPATCH_ONLY)


def test_a_feeder_without_ders_or_with_none_reachable_is_refused() -> None:
    with pytest.raises(DispatchInputError, match="has no DERs"):
        dispatch(ieee123(), DispatchRequest(100.0, 1.0), (), DISPATCH_ONLY)
    cut = tuple(dataclasses.replace(d, comm_ok=False) for d in pv()[:3])
    with pytest.raises(DispatchInputError, match=r"No DER .* can be dispatched"):
        dispatch(ieee123(), DispatchRequest(100.0, 1.0), cut, DISPATCH_ONLY)
    wrong = (dataclasses.replace(pv()[0], bus="nowhere"),)
    with pytest.raises(DispatchInputError, match="lacks"):
        dispatch(ieee123(), DispatchRequest(100.0, 1.0), wrong, DISPATCH_ONLY)


def test_der_sensitivities_match_differences_of_lindist3flows_own_solve() -> None:
    """The VLSM the dispatch uses, per DER, against ±1 kW / ±1 kvar steps of the linear model it comes
    from (linear in the injections but for |V| = √Y: central differences agree to ~1e-9)."""
    from apps.dms.engine import lindist3flow
    from apps.dms.engine.dispatch_vlsm import DerSensitivities

    ders = pv()
    state = OperatingState(1.0, {d.name: DerInjection(d.bus, d.phases, d.p_kw) for d in ders}, {}, 0.98)
    model = lindist3flow.build(ieee123(), opendss_pf.solve(ieee123(), state))
    rows = tuple(k for k in model.keys if not k.startswith(("sourcebus", "150.")))
    sens = DerSensitivities(model, state, ders, rows)
    dv, n = sens.dv(np.arange(len(rows))), len(ders)

    def solved(name: str, dp: float, dq: float) -> PowerFlowResult:
        d = ders[[x.name for x in ders].index(name)]
        step = dict(state.ders, **{name: DerInjection(d.bus, d.phases, d.p_kw + dp, dq)})
        return model.solve(dataclasses.replace(state, ders=step))

    for j in (0, n // 2, n - 1):
        for col, (dp, dq) in ((j, (1.0, 0.0)), (n + j, (0.0, 1.0))):
            up, down = solved(ders[j].name, dp, dq), solved(ders[j].name, -dp, -dq)
            diff = np.array([up.voltages_pu[k] - down.voltages_pu[k] for k in rows]) / 2 * S_BASE_KVA
            assert np.max(np.abs(dv[:, col] - diff)) <= 1e-6 * max(np.max(np.abs(diff)), 1.0)
            drawn = (up.substation_q_kvar - down.substation_q_kvar) / 2  # per kW / kvar injected
            assert abs(sens.dq[col] - drawn) <= 1e-6
    assert np.max(np.abs(dv)) > 1e-3  # a real response, not zeros


def limited(q_inj_share: float = 0.44, q_abs_share: float = 0.3) -> tuple[DerState, ...]:
    """The same inverters with reactive ratings below their kVA (as the registry's units have)."""
    return tuple(
        dataclasses.replace(
            d, q_inj_max_kvar=q_inj_share * d.s_rated_kva, q_abs_max_kvar=q_abs_share * d.s_rated_kva
        )
        for d in pv()
    )


def test_reactive_and_active_ratings_bound_both_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for far more absorption than the inverters' reactive ratings give: every LP answer of
    stage 1 and stage 2 keeps −Q̄abs ≤ q ≤ Q̄inj (not the kVA disk), the set points stay inside the
    ratings exactly, and P limits stay under an active power rating below the available PV."""
    ders = list(limited())
    for k in range(5):  # an active power rating below what the PV could give now
        ders[k] = dataclasses.replace(ders[k], p_rated_kw=0.5 * ders[k].p_avail_kw)
    raw: dict[str, list[np.ndarray]] = {"stage 1": [], "stage 2": []}
    solve = dispatch_lp.solve

    def recording(stage: dispatch_lp.DispatchLp) -> np.ndarray:
        x = solve(stage)
        raw["stage 1" if stage.sigma is None else "stage 2"].append(x)
        return x

    monkeypatch.setattr(dispatch_lp, "solve", recording)
    result = dispatch(ieee123(), DispatchRequest(6000.0, 1.0), tuple(ders), DISPATCH_ONLY)
    assert result.stage2_ran and raw["stage 1"] and raw["stage 2"]
    n = len(ders)
    q_inj = np.array([d.q_inj_max_kvar or 0.0 for d in ders])
    q_abs = np.array([d.q_abs_max_kvar or 0.0 for d in ders])
    for stage, answers in raw.items():
        for x in answers:
            q = x[n:] * S_BASE_KVA
            assert np.all(q <= q_inj + 1e-3) and np.all(q >= -q_abs - 1e-3), stage
    by_name = {d.name: d for d in ders}
    for s in result.setpoints:
        d = by_name[s.name]
        assert -(d.q_abs_max_kvar or 0.0) <= s.q_kvar <= (d.q_inj_max_kvar or 0.0)
        assert 0.0 <= s.p_limit_kw <= min(d.p_avail_kw, d.p_rated_kw or math.inf)
        assert math.hypot(s.p_limit_kw, s.q_kvar) <= d.s_rated_kva
    absorbing = [s for s in result.setpoints if s.q_kvar < -0.99 * (by_name[s.name].q_abs_max_kvar or 0.0)]
    assert len(absorbing) >= 80  # the request pushes most of them to the rating, not the disk
    (short,) = [s for s in result.shortfalls if s.quantity == "q"]
    assert short.cause == "capability limit"
    check = replay(result, tuple(ders), 1.0)
    assert check.substation_q_kvar == pytest.approx(result.q_achieved_kvar, abs=1e-6)


def test_the_next_intervals_flexibility_respects_the_reactive_ratings() -> None:
    """The capability engine's DER settings stay within the reactive ratings, and the dispatch's
    flexibility narrows accordingly."""
    units = [
        PVUnit(d.name, d.bus, d.phases, d.p_avail_kw, d.s_rated_kva, d.q_inj_max_kvar, d.q_abs_max_kvar)
        for d in limited()
    ]
    curve = capability_curve(ieee123(), units, [0.3], v_tm=1.0)
    (point,) = curve.points
    assert point.min is not None and point.max is not None
    rated = {u.name: u for u in units}
    for end in (point.min, point.max):
        for name, sp in end.ders.items():
            u = rated[name]
            assert -(u.q_abs_max_kvar or 0.0) - 1e-3 <= sp.q_kvar <= (u.q_inj_max_kvar or 0.0) + 1e-3
    assert max(abs(sp.q_kvar) for sp in point.min.ders.values()) > 1.0  # the DERs do take part
    request = DispatchRequest(900.0, 1.0)
    narrow = with_flexibility(ieee123(), limited(), dispatch(ieee123(), request, limited())).flexibility
    wide = with_flexibility(ieee123(), pv(), dispatch(ieee123(), request, pv())).flexibility
    assert narrow is not None and wide is not None
    assert narrow.q_min_kvar is not None and wide.q_min_kvar is not None
    assert narrow.q_max_kvar is not None and wide.q_max_kvar is not None
    assert narrow.q_min_kvar > wide.q_min_kvar + 300 and narrow.q_max_kvar < wide.q_max_kvar - 300


@pytest.mark.parametrize(
    ("age_s", "text"),
    [(45.4, "45 s"), (601.0, "10 min"), (9411.0, "2 h 36 min"), (7200.0, "2 h"), (200000.0, "2 d 7 h")],
)
def test_telemetry_ages_read_as_people_say_them(age_s: float, text: str) -> None:
    assert format_age(age_s) == text
    stale = dataclasses.replace(pv()[0], telemetry_age_s=age_s)
    excluded = exclusion(stale, interval_s=10.0)
    assert excluded is not None and f"telemetry {text} old" in excluded.reason


def test_a_device_clock_far_off_is_named_as_the_clock_not_as_old_telemetry() -> None:
    """A unit whose clock is 3257 days behind reports fresh values stamped 3257 days ago: it sits the
    dispatch out (its times can't be trusted), and the reason sends the operator to its clock, not
    after a communication path that works."""
    behind_s = -3257 * 86_400.0
    skewed = dataclasses.replace(pv()[0], telemetry_age_s=-behind_s + 3.0, clock_offset_s=behind_s)
    excluded = exclusion(skewed, interval_s=300.0)
    assert excluded is not None and excluded.cause == "DER unavailable"
    assert "device clock off by 3257 d (behind)" in excluded.reason
    assert "telemetry" not in excluded.reason.split(";")[0] and "3257 d old" not in excluded.reason


def following(ders: tuple[DerState, ...], result: DispatchResult) -> tuple[DerState, ...]:
    """What the units report after taking `result`'s set points: P at its limit within the PV they
    can give, Q at its set point (excluded units unchanged)."""
    given = {s.name: s for s in result.setpoints}
    return tuple(
        dataclasses.replace(d, p_kw=min(d.p_avail_kw, given[d.name].p_limit_kw), q_kvar=given[d.name].q_kvar)
        if d.name in given
        else d
        for d in ders
    )


@pytest.mark.parametrize(
    "request_",
    [DispatchRequest(1500.0, 0.98, pv_curtailment_kw=200.0), DispatchRequest(600.0, 1.04)],
    ids=["curtailment ordered", "curtailment by stage 2 for the voltage limits"],
)
def test_the_same_request_dispatched_ten_times_gives_the_same_setpoints(request_: DispatchRequest) -> None:
    """Issue #11: a scheduler repeating one request while the units follow each answer gets the same
    set points and the same curtailment every time — the curtailment being what it is, the PV the
    units could give less their P limits — however the units' outputs moved since the last run."""
    ders = tuple(dataclasses.replace(d, telemetry_age_s=601.0) if k < 5 else d for k, d in enumerate(pv()))
    answers = []
    for _ in range(10):
        result = dispatch(ieee123(), request_, ders, DISPATCH_ONLY)
        answers.append((result.setpoints, result.pv_curtailment_kw))
        ders = following(ders, result)
    first_setpoints, first_curtailment = answers[0]
    assert all(answer == answers[0] for answer in answers[1:])
    available = {d.name: d.p_avail_kw for d in pv()}
    truth = sum(available[s.name] - s.p_limit_kw for s in first_setpoints)
    assert first_curtailment == pytest.approx(truth, abs=1e-9) and first_curtailment > 100.0


def violated(result: PowerFlowResult) -> tuple[int, float]:
    """Node-phases outside 0.95–1.05 pu where the ANSI limits apply, and the worst excess (pu)."""
    head = tuple(t for t in ieee123().transformers if t.is_feeder_head)
    excess = [
        max(0.95 - result.voltages_pu[k], result.voltages_pu[k] - 1.05)
        for k in constrained_nodes(ieee123(), head)
    ]
    return sum(e > 1e-4 for e in excess), max(excess)


@pytest.mark.parametrize(("q_kvar", "v_sub"), [(1611.5, 1.017), (1611.5, 1.03), (2500.0, 1.04)])
def test_stage_2_never_leaves_more_or_larger_violations_and_says_what_is_left(
    q_kvar: float, v_sub: float
) -> None:
    """Issue #11: requests whose stage 1 breaks limits the DERs cannot fully restore. The answer kept
    (replayed in OpenDSS here) has no more violations and no larger worst one than stage 1's; the
    violations left are counted, their extremes given, and a "voltage limit" shortfall names them."""
    result = dispatch(ieee123(), DispatchRequest(q_kvar, v_sub), pv(), DISPATCH_ONLY)
    assert result.stage2_ran
    before = (
        len(result.violations_before),
        max(max(0.95 - v.v_pu, v.v_pu - 1.05) for v in result.violations_before),
    )
    count, worst = violated(replay(result, pv(), v_sub))
    assert count <= before[0] and worst <= before[1] + 1e-6
    assert count == len(result.violations_after) > 0
    assert result.kept_stage in (1, 2) and f"stage {result.kept_stage}" in result.stage2_note
    check = replay(result, pv(), v_sub)
    head = tuple(t for t in ieee123().transformers if t.is_feeder_head)
    rows = [check.voltages_pu[k] for k in constrained_nodes(ieee123(), head)]
    assert result.v_max_pu_after == pytest.approx(max(rows), abs=1e-9)
    assert result.v_min_pu_after == pytest.approx(min(rows), abs=1e-9)
    (left,) = [s for s in result.shortfalls if s.quantity == "voltage"]
    assert left.cause == "voltage limit" and f"{count} node-phase" in left.detail
