"""PV placed the paper's way (seed 004 §V-B): ~100 equal single-phase units over load node-phases."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from apps.capability.engine.pv import add_pv, load_node_phases
from apps.dms.engine.network import Network

FIXTURES = Path(__file__).resolve().parents[2] / "apps" / "dms" / "fixtures"
FEEDERS = ("ieee13", "ieee123")


@cache
def feeder(name: str) -> Network:
    """The project's converted IEEE test feeder."""
    return Network.from_dict(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.mark.parametrize("name", FEEDERS)
def test_it_places_count_single_phase_units_on_load_node_phases(name: str) -> None:
    net = feeder(name)
    units = add_pv(net, penetration=0.9, count=100, oversize=1.1, seed=7)
    candidates = load_node_phases(net)
    assert len(units) == 100
    assert all(len(u.phases) == 1 and u.bus in candidates[u.phases[0]] for u in units)
    assert len({u.name for u in units}) == 100


@pytest.mark.parametrize("name", FEEDERS)
def test_pv_peak_is_penetration_times_peak_load_and_inverters_are_oversized(name: str) -> None:
    net = feeder(name)
    units = add_pv(net, penetration=0.9, count=100, oversize=1.1, seed=7)
    peak_load = sum(ld.p_kw for ld in net.loads)
    assert sum(u.p_avail_kw for u in units) == pytest.approx(0.9 * peak_load)
    assert all(u.s_rated_kva == pytest.approx(1.1 * u.p_avail_kw) for u in units)


@pytest.mark.parametrize("name", FEEDERS)
def test_units_spread_evenly_over_phases_and_node_phases(name: str) -> None:
    units = add_pv(feeder(name), penetration=0.9, count=100, oversize=1.1, seed=7)
    per_phase = Counter(u.phases[0] for u in units)
    assert max(per_phase.values()) - min(per_phase.values()) <= 1
    for phase in per_phase:
        per_node = Counter(u.bus for u in units if u.phases[0] == phase)
        assert max(per_node.values()) - min(per_node.values()) <= 1


def test_placement_is_deterministic_given_the_seed() -> None:
    net = feeder("ieee123")
    first = add_pv(net, penetration=0.9, count=60, oversize=1.1, seed=3)
    assert add_pv(net, penetration=0.9, count=60, oversize=1.1, seed=3) == first
    assert add_pv(net, penetration=0.9, count=60, oversize=1.1, seed=4) != first


def test_phase_shares_put_seventy_percent_of_the_pv_on_one_phase() -> None:
    units = add_pv(
        feeder("ieee123"), penetration=0.9, count=100, oversize=1.1, seed=7, phase_shares=(0.7, 0.15, 0.15)
    )
    on_phase_1 = sum(u.p_avail_kw for u in units if u.phases == (1,))
    assert on_phase_1 / sum(u.p_avail_kw for u in units) == pytest.approx(0.7)


def test_no_unit_sits_behind_an_ungrounded_delta() -> None:
    net = feeder("ieee123")
    units = add_pv(net, penetration=0.9, count=300, oversize=1.1, seed=7)
    assert not {u.bus for u in units} & net.ungrounded_buses()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"penetration": 0.0}, "penetration must be positive"),
        ({"penetration": -0.5}, "penetration must be positive"),
        ({"count": 0}, "count must be at least 1"),
        ({"oversize": 0.9}, "oversize must be at least 1"),
    ],
)
def test_it_rejects_bad_arguments(changes: dict[str, float], message: str) -> None:
    args = {"penetration": 0.9, "count": 100, "oversize": 1.1, "seed": 1} | changes
    with pytest.raises(ValueError, match=message):
        add_pv(feeder("ieee13"), **args)  # type: ignore[arg-type]


def test_it_rejects_a_feeder_without_loads() -> None:
    with pytest.raises(ValueError, match="no loads"):
        add_pv(replace(feeder("ieee13"), loads=()), penetration=0.9, count=10, oversize=1.1, seed=1)
