"""The plant's day (issue #13): load curves, the sun and the clouds, and the demo clock."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from apps.plant.engine import shapes
from apps.plant.engine.clock import DEMO_RATIO, PlantClock

DAY_S = 24 * 3600


def test_the_sun_is_down_at_night_and_highest_at_noon() -> None:
    assert shapes.clear_sky(3.0) == 0.0 and shapes.clear_sky(21.0) == 0.0
    assert shapes.clear_sky(12.0) == pytest.approx(1.0)
    assert shapes.clear_sky(9.0) == pytest.approx(shapes.clear_sky(15.0))  # symmetric about noon
    assert 0.0 < shapes.clear_sky(7.0) < shapes.clear_sky(10.0) < 1.0


def test_a_cloudy_day_has_fast_dips_under_the_clear_sky_and_replays_the_same() -> None:
    seconds = range(6 * 3600, 18 * 3600, 10)
    clear = [shapes.irradiance(s, shapes.SKY_CLEAR) for s in seconds]
    cloudy = [shapes.irradiance(s, shapes.SKY_CLOUDY, seed=7) for s in seconds]
    assert all(c <= s + 1e-12 for c, s in zip(cloudy, clear, strict=True))
    dips = sum(1 for c, s in zip(cloudy, clear, strict=True) if c < 0.8 * s)
    assert 0.05 * len(clear) < dips < 0.6 * len(clear)  # clouds pass; the sun is out most of the day
    fastest = max(abs(a - b) for a, b in itertools.pairwise(cloudy))
    assert fastest > 0.05  # within 10 s: a fast cloud edge, the ramp a cycle has to correct
    assert cloudy == [shapes.irradiance(s, shapes.SKY_CLOUDY, seed=7) for s in seconds]


def test_homes_peak_in_the_evening_and_business_by_day() -> None:
    assert shapes.residential(19.0) > shapes.residential(8.0) > shapes.residential(3.0)
    assert shapes.commercial(13.0) > 0.95 and shapes.commercial(2.0) < 0.4
    assert shapes.load_level(19.0, 0.0) == pytest.approx(shapes.residential(19.0))
    with pytest.raises(ValueError, match="commercial share must be within 0…1"):
        shapes.load_level(12.0, 1.5)
    with pytest.raises(ValueError, match="unknown sky 'foggy'; choose clear or cloudy"):
        shapes.irradiance(43200.0, "foggy")


def test_the_demo_clock_shows_a_morning_in_ten_minutes_and_real_time_is_real() -> None:
    wall = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC).timestamp()
    demo = PlantClock.demo(wall)
    assert demo.sim_at(wall).hour == 6
    assert demo.sim_at(wall + 600) - demo.sim_at(wall) == dt.timedelta(hours=5)  # ratio 30
    assert demo.wall_step_s() == pytest.approx(10.0 / DEMO_RATIO)
    real = PlantClock.real_time(wall)
    assert real.sim_at(wall + 42.0) == dt.datetime.fromtimestamp(wall + 42.0, dt.UTC)
    with pytest.raises(ValueError, match="ratio must be positive"):
        PlantClock.demo(wall, ratio=0.0)
