"""Suppression by design without Django (apps/alarms/engine/suppression.py): a segment is down when
all of its two or more members are in alarm; a silent member waits its grace for that verdict, a
lone one does not."""

from __future__ import annotations

from apps.alarms.engine.suppression import GRACE_S, Holding, Segments, Verdicts, segments_down


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


def test_segments_over_rounds_down_back_and_a_straggler() -> None:
    segment_of = {"a1": "a", "a2": "a", "b1": "b"}
    seg = Segments()
    quiet = {"a1": False, "a2": False, "b1": False}
    assert seg.step(0.0, quiet, segment_of, []) == Verdicts([], [], [], [], [])
    down = {"a1": True, "a2": True, "b1": True}
    found = seg.step(1.0, down, segment_of, ["a1", "a2", "b1"])
    assert (found.went_down, found.suppressed, found.alone) == (["a"], ["a1", "a2"], ["b1"])  # b1 alone
    back = seg.step(2.0, {"a1": False, "a2": True, "b1": True}, segment_of, [])
    assert back.came_up == ["a"] and back.stragglers == []
    later = seg.step(2.0 + GRACE_S, {"a1": False, "a2": True, "b1": True}, segment_of, [])
    assert later.stragglers == ["a"]  # a2 still silent: its own failure now
