"""A trainer's events in the plant (issue #13 item 4): each is checked against the plant's layout and
refused in words, two of one kind on one target may not overlap, and while one is active its effect
holds in the physics — then the plant goes back by itself when it ends."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from apps.dms.engine.dnp3.points import AO
from apps.dms.engine.dnp3.points import DER as DER_POINTS
from apps.plant.engine.clock import PlantClock
from apps.plant.engine.layout import Layout
from apps.plant.engine.scenarios import ScenarioError
from apps.plant.engine.server import PlantServer

FIXTURE = Path(__file__).resolve().parents[2] / "apps" / "dms" / "fixtures" / "ieee13.json"
RATINGS = {"p_max_kw": 100.0, "q_inj_max_kvar": 44.0, "q_abs_max_kvar": 44.0, "s_max_kva": 110.0}


def layout(sep2_tier: str = "") -> Layout:
    model = json.loads(FIXTURE.read_text())
    ders: list[dict[str, Any]] = [
        {
            "name": "pv-a",
            "feeder": "ieee13",
            "bus": "675",
            "phases": [1, 2, 3],
            **RATINGS,
            "dnp3": {"port": 30000, "address": 1},
        },
        {
            "name": "pv-b",
            "feeder": "ieee13",
            "bus": "692",
            "phases": [1, 2, 3],
            **RATINGS,
            "lfdi": "AB" * 20,
            "tier": sep2_tier,
        },
    ]
    feeder = {"model": model, "tie_bus": 5, "rtu": {"port": 30001, "address": 10}}
    return Layout.from_doc({"case": "case9", "feeders": [feeder], "ders": ders})


@pytest.fixture
def plant() -> PlantServer:
    return PlantServer(layout(), PlantClock.from_hour(time.time(), 12.0))  # noon: the sun is up


def scenario(plant: PlantServer, ident: int, **doc: Any) -> None:
    plant.add_scenario({"start_s": time.time() - 1.0, "duration_s": 3600.0, **doc}, ident)


def test_a_cloud_passage_takes_the_pv_and_the_head_draws_it_until_it_ends(plant: PlantServer) -> None:
    before = plant.step().feeders["ieee13"]
    scenario(plant, 1, kind="cloud", feeders=["ieee13"], factor=0.2)
    under = plant.step().feeders["ieee13"]
    assert under.ders["pv-a"].p_kw == pytest.approx(0.2 * before.ders["pv-a"].p_kw, rel=0.02)
    assert under.p_kw > before.p_kw + 100.0  # two 100 kW arrays lost 80 % of their sun
    plant.end_scenario(1)
    assert plant.step().feeders["ieee13"].ders["pv-a"].p_kw == pytest.approx(
        before.ders["pv-a"].p_kw, rel=0.02
    )


def test_a_load_step_raises_the_demand_by_its_factor(plant: PlantServer) -> None:
    before = plant.step().feeders["ieee13"]
    scenario(plant, 2, kind="load_step", feeders=["ieee13"], factor=1.25)
    assert plant.step().feeders["ieee13"].demand_p_kw == pytest.approx(1.25 * before.demand_p_kw, rel=0.01)


def test_a_line_outage_moves_the_transmission_voltage_and_comes_back(plant: PlantServer) -> None:
    before = plant.step().grid
    scenario(plant, 3, kind="line_outage", branch="4-5")
    during = plant.step().grid
    assert before is not None and during is not None and during.lines_out == ("4-5",)
    assert during.v_pu[5] < before.v_pu[5] - 0.01  # bus 5 fed over one line instead of two
    plant.end_scenario(3)
    after = plant.step().grid
    assert (
        after is not None
        and after.lines_out == ()
        and after.v_pu[5] == pytest.approx(before.v_pu[5], abs=1e-3)
    )


def test_a_tripped_der_gives_nothing_and_one_that_ignores_keeps_its_old_set_point(plant: PlantServer) -> None:
    q_set = DER_POINTS.named(AO, "q_set_kvar")
    assert q_set is not None
    scenario(plant, 4, kind="der_trips", der="pv-b")
    scenario(plant, 5, kind="der_ignores", der="pv-a")
    plant.step()
    assert plant.inverters["pv-a"].command(q_set, 30.0) == 30.0  # it answers as if it followed
    truth = plant.step().feeders["ieee13"]
    assert truth.ders["pv-b"].p_kw == 0.0 and truth.ders["pv-a"].q_kvar == 0.0
    plant.end_scenario(4)
    assert plant.step().feeders["ieee13"].ders["pv-b"].p_kw > 50.0  # reconnected at noon


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"kind": "earthquake", "duration_s": 60}, "unknown scenario kind 'earthquake'"),
        ({"kind": "cloud", "feeders": ["ieee13"], "duration_s": -5}, "more than 0 s and at most 7 days"),
        ({"kind": "cloud", "feeders": ["nowhere"], "duration_s": 60}, "the plant has no feeder nowhere"),
        ({"kind": "cloud", "feeders": [], "duration_s": 60}, "non-empty list of feeder names"),
        ({"kind": "cloud", "feeders": ["ieee13"], "duration_s": 60, "factor": 1.5}, "within 0 … 1"),
        ({"kind": "der_trips", "der": "pv-z", "duration_s": 60}, "no DER named 'pv-z'"),
        ({"kind": "line_outage", "branch": "1-9", "duration_s": 60}, "no branch '1-9'"),
        ({"kind": "load_step", "feeders": ["ieee13"], "duration_s": "long"}, "'duration_s' must be a number"),
    ],
)
def test_a_scenario_the_plant_cannot_run_is_refused_in_words(
    plant: PlantServer, doc: dict[str, Any], words: str
) -> None:
    with pytest.raises(ScenarioError, match=words):
        plant.add_scenario(doc, 9)
    assert plant.book.scenarios == {}


def test_two_of_a_kind_on_one_target_may_not_overlap(plant: PlantServer) -> None:
    scenario(plant, 1, kind="cloud", feeders=["ieee13"])
    with pytest.raises(ScenarioError, match="overlaps scenario 1"):
        scenario(plant, 2, kind="cloud", feeders=["ieee13"])
    scenario(plant, 3, kind="load_step", feeders=["ieee13"])  # another kind: fine
    plant.add_scenario(
        {"kind": "cloud", "feeders": ["ieee13"], "start_s": time.time() + 7200, "duration_s": 60}, 4
    )
    with pytest.raises(ScenarioError, match="scenario 3 exists already"):
        scenario(plant, 3, kind="der_trips", der="pv-a")
    assert sorted(plant.book.scenarios) == [1, 3, 4]


def test_a_lost_segment_cuts_the_2030_5_devices_behind_it_until_it_ends() -> None:
    plant = PlantServer(layout(sep2_tier="fan"), PlantClock.from_hour(time.time(), 12.0))
    lfdi = "AB" * 20
    plant.step()
    assert plant.sep2.reachable(lfdi)
    scenario(plant, 7, kind="segment_lost", tier="fan")
    plant.step()
    assert not plant.sep2.reachable(lfdi)  # its client neither polls nor posts
    plant.end_scenario(7)
    plant.step()
    assert plant.sep2.reachable(lfdi)
    with pytest.raises(ScenarioError, match="network tier"):  # no DER of this layout sits behind LAN
        scenario(plant, 8, kind="segment_lost", tier="lan")
