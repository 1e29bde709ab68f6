"""Alarm performance figures (apps/alarms/engine/performance.py) on a scripted hour, counted by hand:
six 10-minute windows holding 1, 0, 12, 2, 0 and 3 alarms."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.alarms.engine.performance import Activation, performance

T0 = dt.datetime(2026, 12, 5, 2, 0, tzinfo=dt.UTC)
PRIORITIES = ("critical", "high", "medium", "low")


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def history() -> list[Activation]:
    alarms = [Activation(at(1), "overrun", "stage:collect", "medium")]
    flood = [Activation(at(20 + i * 0.5), "comm_failure", f"der:{i % 4}", "low") for i in range(12)]
    alarms += flood
    alarms += [Activation(at(31), "fallback", "feeder:ieee123", "high")] * 2
    alarms += [Activation(at(55), "violation", "dso:5", "critical")] + [
        Activation(at(56), "comm_failure", "der:0", "low")
    ] * 2
    alarms += [Activation(at(60), "overrun", "stage:collect", "medium")]  # at the end: outside
    return alarms


def test_the_hours_figures_match_a_hand_count() -> None:
    p = performance(history(), T0, at(60), PRIORITIES)
    assert p.per_window == [1, 0, 12, 2, 0, 3] and p.total == 18
    assert p.mean_per_10min == pytest.approx(3.0) and p.peak_per_10min == 12
    assert (p.windows_acceptable, p.windows_manageable) == (3, 4)  # 1, 0, 0 | and the 2
    assert p.flood_windows == 1 and p.flood_pct == pytest.approx(100 / 6)
    # der:0 raised 3 times in the flood (i = 0, 4, 8) and twice at 56 min
    assert [(f.kind, f.source, f.count) for f in p.top[:2]] == [
        ("comm_failure", "der:0", 5),
        ("comm_failure", "der:1", 3),
    ]
    assert p.top[0].share_pct == pytest.approx(500 / 18) and p.top_share_pct == pytest.approx(100.0)
    assert p.mix_pct == pytest.approx(
        {"critical": 100 / 18, "high": 200 / 18, "medium": 100 / 18, "low": 1400 / 18}
    )


def test_an_empty_period_has_no_alarms_and_a_reversed_one_is_refused() -> None:
    quiet = performance([], T0, at(25), PRIORITIES)
    assert quiet.per_window == [0, 0, 0] and quiet.flood_pct == 0.0 and quiet.top == []
    with pytest.raises(ValueError, match="must end after it starts"):
        performance([], at(10), T0, PRIORITIES)
