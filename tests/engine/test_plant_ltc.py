"""The substation tap changer of the plant (apps/plant/engine/ltc.py): its controller against hand
-worked sequences (2 V band on 120 V, 30 s first delay, 10 s between steps, 5/8 % a step), then in
the plant, holding IEEE 13's source at the set point the EMS sent while case9's bus 5 moves under it
— the source voltage checked against the transmission voltage times the tap ratio by hand."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from apps.plant.engine.clock import PlantClock
from apps.plant.engine.ltc import BANDWIDTH_PU, TAP_LIMIT, TAP_STEP_PU, TapChanger, check_set_point
from apps.plant.engine.plant import Plant
from apps.plant.engine.server import PlantServer
from tests.engine.test_plant_scenarios import layout

NOON = dt.datetime(2026, 6, 21, 12, 0, tzinfo=dt.UTC)


def test_the_controller_waits_its_delay_then_steps_once_every_ten_seconds_into_the_band() -> None:
    ltc = TapChanger(v_set_pu=1.0)
    taps = [ltc.control(0.974 * ltc.ratio, 10.0) for _ in range(8)]
    # By hand: 0.974 × (1 + n × 0.00625) is 0.98618 at n = 2 (0.0138 below: out of the ±0.00833
    # band) and 0.99226 at n = 3 (0.0077 below: inside). First step after 30 s, then one per 10 s.
    assert taps == [0, 0, 1, 2, 3, 3, 3, 3]


def test_a_dip_shorter_than_the_delay_moves_nothing() -> None:
    ltc = TapChanger(v_set_pu=1.0)
    for v in (0.98, 0.98, 1.0, 0.98, 0.98, 1.0):  # 20 s out, back in: the timer starts again
        assert ltc.control(v, 10.0) == 0


def test_it_stops_at_its_last_tap() -> None:
    ltc = TapChanger(v_set_pu=1.1)
    for _ in range(60):
        ltc.control(0.85 * ltc.ratio, 10.0)
    assert ltc.tap == TAP_LIMIT and ltc.ratio == pytest.approx(1.1)


def test_it_starts_on_the_tap_nearest_its_set_point() -> None:
    ltc = TapChanger(v_set_pu=1.0)
    ltc.settle(0.974)
    assert ltc.tap == 4  # (1.0 / 0.974 − 1) / 0.00625 = 4.27


@pytest.mark.parametrize("bad", [0.5, 1.2, float("nan"), float("inf")])
def test_a_set_point_outside_its_range_is_refused_in_words(bad: float) -> None:
    with pytest.raises(ValueError, match=r"a substation voltage set point is 0\.9–1\.1 pu"):
        check_set_point(bad)


def steps(plant: Plant, start: dt.datetime, count: int) -> list[tuple[float, float, int, float]]:
    """(bus 5 voltage the feeder was solved at, head voltage, tap, set point) for each 10 s step."""
    out = []
    for i in range(count):
        upstream = plant._v_source["ieee13"]
        truth = plant.step(start + dt.timedelta(seconds=10 * i))
        head = truth.feeders["ieee13"]
        assert head.v_set_pu is not None
        out.append((upstream if upstream is not None else float("nan"), head.v_pu, head.tap, head.v_set_pu))
    return out


def test_the_plant_holds_the_feeder_at_the_set_point_while_the_transmission_voltage_moves() -> None:
    plant = PlantServer(layout(), PlantClock.from_hour(time.time(), 12.0)).plant
    settled = steps(plant, NOON, 3)[-1]
    assert abs(settled[1] - settled[3]) <= BANDWIDTH_PU / 2  # started on the right tap

    plant.set_voltage("ieee13", 1.03)  # the EMS's set point, as written to the RTU
    raised = steps(plant, NOON + dt.timedelta(seconds=30), 12)
    v5, v_head, tap, v_set = raised[-1]
    assert v_set == 1.03 and abs(v_head - 1.03) <= BANDWIDTH_PU / 2 and tap > settled[2]
    for upstream, head, tap_in_force, _ in raised:  # the source is bus 5 times the ratio, by hand
        assert head == pytest.approx(upstream * (1 + tap_in_force * TAP_STEP_PU), abs=2e-4)

    assert plant.transmission is not None
    plant.transmission.take_out("4-5")  # bus 5 sags by ~0.07 pu: more than the taps have left
    sagged = steps(plant, NOON + dt.timedelta(seconds=150), 14)
    assert sagged[1][0] < v5 - 0.05 and sagged[1][1] < 1.03 - BANDWIDTH_PU
    v5_out, v_out, tap_out, _ = sagged[-1]
    assert tap_out == TAP_LIMIT and v_out == pytest.approx(v5_out * 1.1, abs=2e-4)  # its last step

    plant.transmission.restore("4-5")  # bus 5 comes back: the source overshoots, taps come down
    restored = steps(plant, NOON + dt.timedelta(seconds=290), 14)
    assert restored[1][1] > 1.03 + BANDWIDTH_PU
    assert abs(restored[-1][1] - 1.03) <= BANDWIDTH_PU / 2 and restored[-1][2] < TAP_LIMIT


def test_the_plant_refuses_a_set_point_it_cannot_take_and_keeps_its_own() -> None:
    plant = PlantServer(layout(), PlantClock.from_hour(time.time(), 12.0)).plant
    before = plant.ltc["ieee13"].v_set_pu
    with pytest.raises(ValueError, match=r"0\.9–1\.1 pu"):
        plant.set_voltage("ieee13", 1.5)
    with pytest.raises(ValueError, match="no feeder named nowhere"):
        plant.set_voltage("nowhere", 1.0)
    assert plant.ltc["ieee13"].v_set_pu == before
