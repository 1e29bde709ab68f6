"""The aggregated var capability curve (DESIGN §3, seed 004) on IEEE 13 and 123 with PV placed the paper's
way: ~100 single-phase units, PV peak 90 % of peak load, inverters 1.1 × PV peak."""

from __future__ import annotations

import itertools
import math
from functools import cache

import pytest

from apps.capability.engine import der_opf
from apps.capability.engine.curve import (
    CapabilityCurve,
    CapabilityPoint,
    Solution,
    capability_curve,
    headroom_range,
    parse_headroom,
    to_json,
)
from apps.capability.engine.pv import BALANCED, PVUnit, add_pv
from apps.der_registry.engine.polygon import edge_normals, polygon_radius_loss
from tests.engine.test_capability_pv import FEEDERS, feeder

HEADROOMS = tuple(headroom_range(0.0, 1.0, 0.05))
SIDES = 16
V_TOL = 1e-4  # the SLP's convergence tolerance on |V|


@cache
def paper_pv(
    name: str, oversize: float = 1.1, shares: tuple[float, float, float] = BALANCED
) -> tuple[PVUnit, ...]:
    net = feeder(name)
    return tuple(add_pv(net, penetration=0.9, count=100, oversize=oversize, seed=1, phase_shares=shares))


@cache
def paper_curve(name: str) -> CapabilityCurve:
    """The full curve, 21 headroom points × 2 directions."""
    return capability_curve(feeder(name), paper_pv(name), HEADROOMS, sides=SIDES)


def rpfr(curve: CapabilityCurve, point: CapabilityPoint) -> tuple[float, float]:
    region = curve.rpfr(point)
    assert region is not None, f"headroom {point.headroom} is infeasible"
    return region


def solutions(curve: CapabilityCurve) -> list[tuple[float, Solution]]:
    return [(p.headroom, s) for p in curve.points for s in (p.min, p.max) if s is not None]


@pytest.mark.parametrize("name", FEEDERS)
def test_every_point_of_the_nominal_curve_is_feasible_and_converged(name: str) -> None:
    curve = paper_curve(name)
    assert all(p.feasible for p in curve.points)
    assert all(s.converged for _, s in solutions(curve))


@pytest.mark.parametrize("name", FEEDERS)
def test_capacitive_support_grows_with_headroom(name: str) -> None:
    """Holding PV back frees inverter capacity for vars, so support grows with headroom. Near full
    headroom the freed capacity is small (√(S̄² − p²) barely changes as p → 0) while curtailing PV
    raises the real-power import and with it the feeder's reactive losses; on IEEE 13 that turns the
    curve down slightly above h ≈ 0.85 (by about 1 %), which the last assertion bounds."""
    curve = paper_curve(name)
    support = [-rpfr(curve, p)[0] for p in curve.points]
    rising = [s for p, s in zip(curve.points, support, strict=True) if p.headroom <= 0.8]
    assert all(b >= a - 1.0 for a, b in itertools.pairwise(rising))  # kvar
    assert support[-1] > support[0] + 1000
    assert min(support[len(rising) :], default=max(support)) >= 0.97 * max(support)


@pytest.mark.parametrize("name", FEEDERS)
def test_the_base_case_lies_inside_the_region_and_signs_follow_design_7(name: str) -> None:
    curve = paper_curve(name)
    for p in curve.points:
        assert p.min is not None and p.max is not None
        assert p.min.q_kvar < curve.q_base_kvar < p.max.q_kvar
        assert sum(d.q_kvar for d in p.min.ders.values()) > 0  # injecting: capacitive support
        assert sum(d.q_kvar for d in p.max.ders.values()) < 0  # absorbing


@pytest.mark.parametrize("name", FEEDERS)
def test_solutions_keep_inverters_inside_their_polygons(name: str) -> None:
    units = {u.name: u for u in paper_pv(name)}
    apothem = 1 - polygon_radius_loss(SIDES)
    for _, s in solutions(paper_curve(name)):
        for der_name, d in s.ders.items():
            u = units[der_name]
            assert -1e-6 <= d.p_kw <= u.p_avail_kw + 1e-6
            assert math.hypot(d.p_kw, d.q_kvar) <= u.s_rated_kva * (1 + 1e-7)
            for theta, _ in edge_normals(SIDES):
                edge = math.cos(theta) * d.p_kw + math.sin(theta) * d.q_kvar
                assert edge <= apothem * u.s_rated_kva + 1e-6


@pytest.mark.parametrize("name", FEEDERS)
def test_solutions_hold_the_aggregated_headroom(name: str) -> None:
    units = {u.name: u for u in paper_pv(name)}
    available = sum(u.p_avail_kw for u in units.values())
    for h, s in solutions(paper_curve(name)):
        held_back = sum(units[k].p_avail_kw - d.p_kw for k, d in s.ders.items())
        assert held_back == pytest.approx(h * available, abs=1e-3)


@pytest.mark.parametrize("name", FEEDERS)
def test_solutions_set_one_feeder_head_tap_within_its_range_and_meet_ansi(name: str) -> None:
    head = {t.name: t for t in feeder(name).transformers if t.is_feeder_head}
    for _, s in solutions(paper_curve(name)):
        assert set(s.taps) == set(head) and len(set(s.taps.values())) == 1
        assert all(head[k].tap_min <= r <= head[k].tap_max for k, r in s.taps.items())
        assert all(0.95 - V_TOL <= v <= 1.05 + V_TOL for v in s.voltages_pu.values())


@pytest.mark.parametrize("name", FEEDERS)
def test_full_pv_without_oversize_leaves_the_ders_no_var_room(name: str) -> None:
    units = paper_pv(name, oversize=1.0)
    curve = capability_curve(feeder(name), units, [0.0])
    point = curve.points[0]
    assert point.min is not None and point.max is not None
    for s in (point.min, point.max):
        assert all(abs(d.q_kvar) < 1e-3 for d in s.ders.values())
    # What is left is the OLTC moving voltage-dependent loads and capacitors: ≤ 1.5 % of the rating.
    rating = sum(u.s_rated_kva for u in units)
    assert all(abs(end) <= 0.015 * rating for end in rpfr(curve, point))


@pytest.mark.parametrize("name", FEEDERS)
def test_pv_concentrated_on_one_phase_shrinks_the_region(name: str) -> None:
    net, headrooms = feeder(name), [0.2, 0.4]
    balanced = capability_curve(net, paper_pv(name), headrooms)
    unbalanced = capability_curve(net, paper_pv(name, shares=(0.7, 0.15, 0.15)), headrooms)
    for b, u in zip(balanced.points, unbalanced.points, strict=True):
        b_lo, b_hi = rpfr(balanced, b)
        u_lo, u_hi = rpfr(unbalanced, u)
        assert u_hi - u_lo < 0.9 * (b_hi - b_lo)


@pytest.mark.parametrize("name", FEEDERS)
def test_no_point_is_feasible_far_outside_the_oltc_decoupling_range(name: str) -> None:
    # Even the head node alone needs v_tm ∈ [0.95 / r_max, 1.05 / r_min] = [0.864, 1.167].
    net, units = feeder(name), paper_pv(name)
    for v_tm in (0.8, 1.25):
        assert not any(p.feasible for p in capability_curve(net, units, [0.0, 0.5], v_tm=v_tm).points)
    for v_tm in (0.92, 1.1):
        assert all(p.feasible for p in capability_curve(net, units, [0.5], v_tm=v_tm).points)


def test_the_json_document_is_design_7s() -> None:
    curve = paper_curve("ieee13")
    doc = to_json(curve)
    assert set(doc) == {"q_base_kvar", "points"}
    assert [set(p) for p in doc["points"]] == [{"headroom", "q_min_kvar", "q_max_kvar", "feasible"}] * 21
    detail = to_json(curve, detail=True)["points"][3]
    assert detail["q_min_kvar"] == pytest.approx(curve.points[3].q_min_kvar, abs=1e-3)
    for end in ("min", "max"):
        assert set(detail[end]) == {"ders", "taps"}
        der = next(iter(detail[end]["ders"].values()))
        assert set(der) == {"bus", "phases", "p_kw", "q_kvar"} and isinstance(der["phases"], list)
        assert set(detail[end]["taps"]) == {"reg1", "reg2", "reg3"}


@pytest.mark.parametrize("v_tm", [1.0, 1.1])
def test_voltage_rows_taken_as_they_bind_give_the_curve_of_all_rows(
    v_tm: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, units, headrooms = feeder("ieee13"), paper_pv("ieee13"), HEADROOMS[::2]
    every = capability_curve(net, units, headrooms, v_tm=v_tm, all_voltage_rows=True)
    monkeypatch.setattr(der_opf, "MAX_ADD", 1)  # one row at a time: many rounds of row generation
    lazy = capability_curve(net, units, headrooms, v_tm=v_tm)
    for a, b in zip(every.points, lazy.points, strict=True):
        assert a.feasible == b.feasible
        assert a.q_min_kvar == pytest.approx(b.q_min_kvar, abs=0.01)
        assert a.q_max_kvar == pytest.approx(b.q_max_kvar, abs=0.01)


def test_infeasible_points_carry_nulls() -> None:
    curve = capability_curve(feeder("ieee13"), paper_pv("ieee13"), [0.0], v_tm=1.3)
    point = to_json(curve, detail=True)["points"][0]
    assert point == {"headroom": 0.0, "q_min_kvar": None, "q_max_kvar": None, "feasible": False,
                     "min": None, "max": None}  # fmt: skip


def test_headroom_ranges_parse_like_the_command_line() -> None:
    assert parse_headroom("0:1:0.25") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert headroom_range(0.1, 0.3, 0.1) == [0.1, 0.2, 0.3]
    assert len(HEADROOMS) == 21 and HEADROOMS[-1] == 1.0
    assert len(parse_headroom("0:1:0.001")) == 1001  # the finest sweep allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0:1:0", "step must be positive"),
        ("0:1:-0.1", "step must be positive"),
        ("-0.1:1:0.1", "outside \\[0, 1\\]"),
        ("0:1.2:0.1", "outside \\[0, 1\\]"),
        ("0.5:0.2:0.1", "above its stop"),
        ("0-1-0.1", "START:STOP:STEP"),
        ("0:1:5e-324", "more than 1001 points"),  # the point count overflowed an int
        ("0:1:0.0009", "more than 1001 points"),
        ("0:1:nan", "step must be positive and finite"),
        ("0:1:inf", "step must be positive and finite"),
        ("nan:1:0.1", "outside \\[0, 1\\]"),
    ],
)
def test_bad_headroom_ranges_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_headroom(text)


@pytest.mark.parametrize(
    ("headrooms", "kwargs", "message"),
    [
        ([1.5], {}, "outside \\[0.0, 1\\]"),
        ([-0.1], {}, "outside \\[0.0, 1\\]"),
        ([], {}, "at least one headroom"),
        ([0.0], {"v_tm": 0.0}, "v_tm must be a positive"),
        ([0.0], {"v_tm": -1.0}, "v_tm must be a positive"),
        ([0.0], {"sides": 2}, "at least 3 sides"),
        ([0.0], {"load_scale": 0.0}, "Load scale must be positive"),
    ],
)
def test_bad_input_is_refused(headrooms: list[float], kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        capability_curve(feeder("ieee13"), paper_pv("ieee13"), headrooms, **kwargs)  # type: ignore[arg-type]


def test_a_feeder_without_ders_is_refused() -> None:
    with pytest.raises(ValueError, match="no DERs"):
        capability_curve(feeder("ieee13"), [], [0.0])
