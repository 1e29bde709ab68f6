"""The cycle's clock and budgets (DESIGN §2, seed 000 §2.2), checked by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.cycle.engine.schedule import (
    BUDGETS_300_S,
    Outcome,
    Stage,
    Timing,
    budgets_s,
    check_interval,
    interval_index,
    interval_start_s,
    outcome,
    seconds_to_next,
)

T = dt.datetime(2026, 12, 4, 15, 47, 30, tzinfo=dt.UTC).timestamp()


def test_the_seeds_stages_fill_five_minutes_after_the_collect_snapshot() -> None:
    """45 + 15 + 30 + 120 + 30 + 60 s = 300 s (seed 000 §2.2); collect only snapshots SCADA."""
    assert list(BUDGETS_300_S) == list(Stage)
    assert sum(BUDGETS_300_S.values()) - BUDGETS_300_S[Stage.COLLECT] == 300.0
    assert budgets_s(300.0)[Stage.EMS_OPF] == 45.0


@pytest.mark.parametrize("interval_s", [600.0, 900.0, 20.0])
def test_budgets_scale_with_the_interval(interval_s: float) -> None:
    scaled = budgets_s(interval_s)
    for stage, base in BUDGETS_300_S.items():
        assert scaled[stage] == pytest.approx(base * interval_s / 300.0, rel=1e-12)


def test_intervals_start_on_wall_clock_boundaries() -> None:
    """15:47:30 UTC is in the 15:45 interval of 5 minutes, the 15:40 one of 10, the 15:45 one of 15."""
    for interval_s, start in ((300.0, "15:45"), (600.0, "15:40"), (900.0, "15:45")):
        index = interval_index(T, interval_s)
        when = dt.datetime.fromtimestamp(interval_start_s(index, interval_s), dt.UTC)
        assert when.strftime("%H:%M") == start and when.date() == dt.date(2026, 12, 4)
    assert seconds_to_next(T, 300.0) == pytest.approx(150.0)
    on_boundary = interval_start_s(interval_index(T, 300.0), 300.0)
    assert seconds_to_next(on_boundary, 300.0) == 300.0
    assert interval_index(on_boundary, 300.0) == interval_index(T, 300.0)


@pytest.mark.parametrize(
    ("interval_s", "allow_short", "words"),
    [
        (300.0, False, ""),
        (600.0, False, ""),
        (900.0, False, ""),
        (420.0, False, "must be 5, 10, 15 minutes, not 420 s"),
        (20.0, False, "must be 5, 10, 15 minutes, not 20 s"),
        (20.0, True, ""),
        (5.0, True, "not 5 s"),
        (float("nan"), True, "a number of seconds"),
        (-300.0, False, "a number of seconds"),
    ],
)
def test_only_5_10_or_15_minutes_unless_short_intervals_are_allowed(
    interval_s: float, allow_short: bool, words: str
) -> None:
    message = check_interval(interval_s, allow_short)
    assert (words in message) if words else message == ""


def test_a_stage_outcome_puts_failure_before_fallback_before_skip_before_late() -> None:
    late, in_time = Timing(46.0, 45.0), Timing(44.0, 45.0)
    assert outcome(in_time) is Outcome.OK and outcome(late) is Outcome.LATE
    assert outcome(Timing(45.0, 45.0)) is Outcome.OK  # on the budget is in time
    assert outcome(late, skipped=True) is Outcome.SKIPPED
    assert outcome(late, skipped=True, fallback=True) is Outcome.FALLBACK
    assert outcome(in_time, fallback=True, failed=True) is Outcome.FAILED
