"""A day or more between a sample's device time and its arrival is the device's clock, not a delay."""

from __future__ import annotations

import datetime as dt

from apps.der_registry.engine.device_clock import CLOCK_TOLERANCE_S, clock_offset_s, clock_problem

ARRIVED = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_a_late_sample_within_a_day_is_no_clock_problem() -> None:
    assert clock_offset_s(ARRIVED - dt.timedelta(hours=23), ARRIVED) is None
    assert clock_problem(None) == ""


def test_a_clock_years_behind_is_named_as_such() -> None:
    offset = clock_offset_s(ARRIVED - dt.timedelta(days=3257, hours=5), ARRIVED)
    assert offset == -(3257 * 86_400 + 5 * 3600)
    assert clock_problem(offset) == "device clock off by 3257 d 5 h (behind)"


def test_a_clock_a_day_ahead_is_named_as_such() -> None:
    offset = clock_offset_s(ARRIVED + dt.timedelta(seconds=CLOCK_TOLERANCE_S + 3600), ARRIVED)
    assert clock_problem(offset) == "device clock off by 1 d 1 h (ahead)"
