"""ISA-18.2 alarm management without Django (apps/alarms/engine/isa182.py): the four states, shelf
limits, chattering (3 activations within a minute) and stale alarms (active > 24 h), by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.alarms.engine.isa182 import (
    DEFAULT_PRIORITY,
    PRIORITIES,
    PRIORITY_MARK,
    Shelf,
    State,
    chattering,
    shelf_for,
    stale,
    state,
)

T0 = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_the_four_states() -> None:
    assert state(active=True, acknowledged=False) is State.UNACK_ACTIVE
    assert state(active=True, acknowledged=True) is State.ACK_ACTIVE
    assert state(active=False, acknowledged=False) is State.UNACK_RTN
    assert state(active=False, acknowledged=True) is State.NORMAL


def test_every_priority_has_a_shape_and_every_kind_a_priority() -> None:
    assert set(PRIORITY_MARK) == set(PRIORITIES) and len(set(PRIORITY_MARK.values())) == 4
    assert set(DEFAULT_PRIORITY.values()) <= set(PRIORITIES)


def test_a_timed_shelf_holds_until_its_time_and_a_one_shot_until_the_alarm_clears() -> None:
    timed = shelf_for(10, 480, T0)
    assert timed == Shelf(at(600), False)
    assert timed.holds(at(599), active=False) and not timed.holds(at(600), active=True)
    one_shot = shelf_for(None, 480, T0)
    assert one_shot.holds(at(10_000), active=True) and not one_shot.holds(at(1), active=False)


@pytest.mark.parametrize("minutes", [0.5, 481, float("nan"), -10])
def test_a_shelf_outside_the_admins_limit_is_refused_in_words(minutes: float) -> None:
    with pytest.raises(ValueError, match="A timed shelf lasts 1 to 480 minutes"):
        shelf_for(minutes, 480, T0)


def test_three_activations_within_a_minute_chatter_two_or_a_spread_do_not() -> None:
    assert chattering([at(0), at(30), at(59)], at(59))
    assert not chattering([at(0), at(30)], at(30))
    assert not chattering([at(0), at(31), at(62)], at(62))  # the first is 62 s before the third


def test_an_alarm_active_for_more_than_a_day_is_stale() -> None:
    day = 24 * 3600
    assert stale(T0, at(day + 1), active=True)
    assert not stale(T0, at(day), active=True)
    assert not stale(T0, at(2 * day), active=False)
