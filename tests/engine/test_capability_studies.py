"""Planner studies on IEEE 13 with PV added the paper's way (fewer units, to stay quick)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.capability.engine import studies
from apps.capability.engine.pv import add_pv
from apps.dms.engine.network import Network

FIXTURE = Path(__file__).resolve().parents[2] / "apps" / "dms" / "fixtures" / "ieee13.json"


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_dict(json.loads(FIXTURE.read_text()))


def span(series: dict) -> float:  # type: ignore[type-arg]
    """Width of the region at the first headroom; an infeasible point has none."""
    point = series["points"][0]
    return float(point["q_max_kvar"] - point["q_min_kvar"]) if point["feasible"] else 0.0


def test_the_decoupling_range_is_where_the_oltc_still_reaches_every_optimal_secondary_voltage() -> None:
    # Seed 004 eq. 26, by hand: taps r ∈ [0.9, 1.1] reach v0 = r·v_tm ∈ [0.9·v_tm, 1.1·v_tm]; optimal
    # secondary voltages 1.025 and 1.040 pu both stay reachable for 1.040/1.1 ≤ v_tm ≤ 1.025/0.9.
    low, high = studies.decoupling_range([1.025, 1.040, 1.03], (0.9, 1.1))
    assert low == pytest.approx(0.945455, abs=1e-6) and high == pytest.approx(1.138889, abs=1e-6)
    # Not the band's own ends, 0.95/1.1–1.05/0.9 = 0.864–1.167: at 0.864 only v0 = 0.95 is reachable.
    assert studies.decoupling_range([0.96, 1.04], (0.98, 1.02)) is None  # no v_tm reaches both
    assert studies.decoupling_range([], (0.9, 1.1)) is None  # no feasible point at nominal v_tm


def test_the_curve_holds_inside_the_decoupling_range_and_narrows_outside_it(net: Network) -> None:
    units = add_pv(net, penetration=0.9, count=30, oversize=1.1, seed=1)
    doc = studies.vtm_sweep(net, units, [0.80, 0.90, 1.0, 1.15, 1.25], [0.0])
    low, high = doc["decoupling_range"]
    v0_low, v0_high = doc["secondary_v0_pu"]  # of the curve at v_tm = 1 pu, both directions
    assert low == pytest.approx(v0_high / 1.1, abs=1e-5) and high == pytest.approx(v0_low / 0.9, abs=1e-5)
    assert 0.90 < low < 1.0 < high < 1.15  # IEEE 13 with this PV: about 0.946–1.139 pu
    nominal = span(next(s for s in doc["series"] if s["v_tm"] == 1.0))
    edges = studies.vtm_sweep(net, units, [round(low + 0.001, 3), round(high - 0.001, 3)], [0.0])
    for series in edges["series"]:
        assert span(series) == pytest.approx(nominal, rel=1e-3), series["v_tm"]
    widths = {s["v_tm"]: span(s) for s in doc["series"]}
    assert widths[0.90] < 0.99 * nominal and widths[1.15] < 0.99 * nominal
    assert widths[0.80] == 0.0 and widths[1.25] == 0.0  # no feasible point at all


def test_both_ieee_1547_options_reach_44_percent_reactive_capability(net: Network) -> None:
    doc = studies.compliance_options(net, penetration=0.9, count=30, seed=1)
    oversize, headroom = doc["series"]
    for option in (oversize, headroom):
        point = option["points"][0]
        support_kvar = option["q_base_kvar"] - point["q_min_kvar"]
        # Each option frees 44 % of the inverter rating for Q at (nearly) full output.
        assert support_kvar >= 0.35 * option["inverter_kva"] / studies.COMPLIANCE_OVERSIZE


def test_phase_unbalance_shrinks_the_region(net: Network) -> None:
    doc = studies.unbalance(net, [0.0], penetration=0.9, count=30, oversize=1.1, seed=1)
    by_label = {s["label"]: span(s) for s in doc["series"]}
    assert len(by_label) == 10
    assert by_label["70% on phase 1"] < by_label["balanced"]
    assert all(width <= by_label["balanced"] + 1e-6 for width in by_label.values())


def test_day_ahead_gives_24_hourly_curves_with_night_time_var_support(net: Network) -> None:
    units = add_pv(net, penetration=0.9, count=15, oversize=1.1, seed=1)
    doc = studies.day_ahead(net, units, [0.0])
    assert [s["hour"] for s in doc["series"]] == list(range(24))
    midnight, noon = doc["series"][0], doc["series"][12]
    assert midnight["pv_share"] == 0 and midnight["points"][0]["feasible"]
    assert span(midnight) > span(noon)  # no PV output at night: the whole rating is free for Q


def test_more_penetration_gives_more_flexibility(net: Network) -> None:
    doc = studies.penetration_oversize(
        net, [0.0], count=15, seed=1, penetrations=(0.2, 0.8), oversizes=(1.1,)
    )
    low, high = doc["series"]
    assert span(high) > span(low)


def test_it_refuses_bad_study_input(net: Network) -> None:
    units = add_pv(net, penetration=0.9, count=5, oversize=1.1, seed=1)
    with pytest.raises(ValueError, match="greater than 0 pu"):
        studies.vtm_sweep(net, units, [0.0], [0.0])
    with pytest.raises(ValueError, match="24 hourly values"):
        studies.day_ahead(net, units, [0.0], load_shape=(1.0,) * 23)
