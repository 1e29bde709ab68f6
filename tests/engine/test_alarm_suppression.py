"""Suppression by design without Django (apps/alarms/engine/suppression.py): a segment is down when
all of its two or more members are in alarm; a silent member waits its grace for that verdict, a
lone one does not."""

from __future__ import annotations

from apps.alarms.engine.suppression import GRACE_S, Holding, segments_down


def test_a_segment_is_down_only_when_all_its_members_are_and_it_has_two_or_more() -> None:
    flags = {"a": [True, True, True], "b": [True, False], "c": [True]}
    assert segments_down(flags) == {"a"}


def test_silent_members_wait_for_their_segments_verdict_and_a_lone_one_does_not() -> None:
    segment_of = {"x1": "a", "x2": "a", "y": "b", "z": "c"}
    sizes = {"a": 2, "b": 3, "c": 1}
    held = Holding()
    for key in ("x1", "x2", "y", "z"):
        held.hold(key, 0.0)
    assert held.due(1.0, {"a"}, segment_of, sizes) == (["x1", "x2"], ["z"])  # a down; z alone at once
    assert held.due(GRACE_S - 0.1, set(), segment_of, sizes) == ([], [])  # y waits out its grace
    assert held.due(GRACE_S, set(), segment_of, sizes) == ([], ["y"])
    held.hold("y", 20.0)
    held.release("y")  # it answered before its grace ended: no alarm
    assert held.due(40.0, set(), segment_of, sizes) == ([], [])
