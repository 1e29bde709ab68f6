"""What an operator may ask of a whole DER group (`engine/group_controls.py`) and how its controls are
listed and numbered in the group's 2030.5 program (`engine/sep2/groups.py`). Hand-worked cases."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from apps.der_registry.engine import group_controls as gc
from apps.der_registry.engine.sep2 import groups
from apps.der_registry.engine.sep2.editions import NS_2013
from apps.der_registry.engine.sep2.model import GroupControlView
from apps.der_registry.engine.sep2.xmlcodec import to_bytes

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def q(tag: str) -> str:
    return f"{{{NS_2013}}}{tag}"


def test_a_control_starts_now_unless_told_and_describes_itself() -> None:
    req, issues = gc.check({"max_lim_pct": "40", "connect": "true", "duration_s": "900"}, NOW)
    assert issues == [] and req is not None
    assert (req.start_at, req.end_at) == (NOW, NOW + dt.timedelta(minutes=15))
    assert (req.max_lim_pct, req.connect, req.energize, req.fixed_var_pct) == (40.0, True, None, None)
    assert req.description == "connect, P ≤ 40 %"


def test_a_start_without_a_zone_is_utc_and_one_in_a_zone_is_kept() -> None:
    naive, _ = gc.check({"connect": False, "duration_s": 60, "start_at": "2026-12-07T13:00"}, NOW)
    zoned, _ = gc.check({"connect": False, "duration_s": 60, "start_at": "2026-12-07T14:00+01:00"}, NOW)
    assert naive is not None and zoned is not None
    assert naive.start_at == zoned.start_at == NOW + dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"duration_s": 60}, "__all__"),
        ({"energize": False, "duration_s": 0}, "duration_s"),
        ({"energize": False, "duration_s": 8 * 86400}, "duration_s"),
        ({"energize": False, "duration_s": True}, "duration_s"),
        ({"energize": False, "duration_s": "nan"}, "duration_s"),
        ({"max_lim_pct": "inf", "duration_s": 60}, "max_lim_pct"),
        ({"max_lim_pct": -1, "duration_s": 60}, "max_lim_pct"),
        ({"fixed_var_pct": 100.5, "duration_s": 60}, "fixed_var_pct"),
        ({"ramp_s": -1, "connect": True, "duration_s": 60}, "ramp_s"),
        ({"connect": True, "duration_s": 60, "randomize_duration_s": -5}, "randomize_duration_s"),
        ({"connect": True, "duration_s": 60, "start_at": NOW - dt.timedelta(seconds=61)}, "start_at"),
    ],
)
def test_a_control_that_cannot_be_issued_says_which_field(values: dict[str, object], field: str) -> None:
    req, issues = gc.check(values, NOW)
    assert req is None and [i.field for i in issues] == [field]


def test_the_event_status_follows_time_and_cancellation() -> None:
    req = gc.GroupControlRequest(NOW, 600, connect=False)
    spread = gc.GroupControlRequest(NOW, 600, randomize_start_s=30, connect=False)
    assert gc.event_status(req, False, NOW - dt.timedelta(seconds=1)) == gc.SCHEDULED
    assert gc.event_status(req, False, NOW) == gc.ACTIVE
    assert gc.event_status(req, False, NOW + dt.timedelta(hours=1)) == gc.ACTIVE  # no "ended" status
    assert gc.event_status(req, True, NOW) == gc.CANCELLED
    assert gc.event_status(spread, True, NOW) == gc.CANCELLED_RANDOMIZED


def test_ended_controls_leave_the_list_an_hour_after_they_end() -> None:
    def view(n: int, start_min: int, duration_s: int, cancelled_min: int | None = None) -> GroupControlView:
        start = NOW + dt.timedelta(minutes=start_min)
        cancelled = None if cancelled_min is None else NOW + dt.timedelta(minutes=cancelled_min)
        return GroupControlView(
            n, 1, start, gc.GroupControlRequest(start, duration_s, connect=False), cancelled
        )

    views = [
        view(1, -200, 3600),  # ended 80 min ago: gone
        view(2, -100, 3600),  # ended 40 min ago: listed
        view(3, -10, 3600, cancelled_min=-70),  # cancelled 70 min ago: gone
        view(4, -10, 3600),  # active
        view(5, 60, 600),  # scheduled
    ]
    assert [v.control_id for v in groups.listed(views, NOW)] == [2, 4, 5]
    assert [v.control_id for v in groups.active(views, NOW)] == [4]


def test_a_control_s_modes_are_encoded_in_2030_5_units() -> None:
    req = gc.GroupControlRequest(NOW, 600, 60, 0, None, False, 12.34, 33.3, 2.5, "x")
    doc = etree.fromstring(to_bytes(groups.group_control(GroupControlView(3, 7, NOW, req), NOW)))
    base = doc.find(q("DERControlBase"))
    assert [etree.QName(c).localname for c in base] == [
        "opModEnergize",
        "opModFixedVar",
        "opModMaxLimW",
        "rampTms",
    ]
    assert base.findtext(q("opModMaxLimW")) == "1234"  # hundredths of a percent
    assert base.find(q("opModFixedVar")).findtext(q("value")) == "3330"
    assert base.findtext(q("rampTms")) == "250"  # hundredths of a second
    assert doc.findtext(q("randomizeStart")) == "60" and doc.find(q("randomizeDuration")) is None
    assert doc.findtext(q("mRID")).startswith("09") and doc.attrib["href"] == "/gderp/7/derc/3"


def test_a_p_target_is_kw_for_each_device_served_as_active_power_in_watts() -> None:
    req, issues = gc.check({"target_w_kw": "2.25", "duration_s": 600}, NOW)
    assert issues == [] and req is not None and req.target_w_kw == 2.25
    assert req.description == "P → 2.25 kW" and req.modes == frozenset({"target_w_kw"})
    doc = etree.fromstring(to_bytes(groups.group_control(GroupControlView(3, 7, NOW, req), NOW)))
    target = doc.find(q("DERControlBase")).find(q("opModTargetW"))
    # 2250 W: value × 10^multiplier, value an Int16 — the finest multiplier that fits.
    assert (target.findtext(q("multiplier")), target.findtext(q("value"))) == ("-1", "22500")
    _, issues = gc.check({"target_w_kw": 20000, "duration_s": 600}, NOW)
    assert [i.field for i in issues] == ["target_w_kw"]


def test_a_power_factor_for_every_device_one_reactive_mode_at_a_time() -> None:
    req, issues = gc.check({"fixed_pf": "-0.95", "duration_s": 600}, NOW)
    assert issues == [] and req is not None and (req.fixed_pf, req.description) == (-0.95, "PF -0.95")
    doc = etree.fromstring(to_bytes(groups.group_control(GroupControlView(3, 7, NOW, req), NOW)))
    pf = doc.find(q("DERControlBase")).find(q("opModFixedPF"))
    assert (pf.findtext(q("displacement")), pf.findtext(q("multiplier"))) == ("-95", "-2")  # signed, EEI
    _, both = gc.check({"fixed_pf": 0.9, "fixed_var_pct": 10, "duration_s": 600}, NOW)
    assert [i.field for i in both] == ["fixed_pf"] and "one reactive mode" in both[0].message
    for bad in (0, 1.5, "unity"):
        _, issues = gc.check({"fixed_pf": bad, "duration_s": 600}, NOW)
        assert [i.field for i in issues] == ["fixed_pf"], bad
    # A power factor takes over from a fixed Q (the same quantity), not from a P limit.
    var = gc.GroupControlRequest(NOW, 600, fixed_var_pct=-20.0)
    limit = gc.GroupControlRequest(NOW, 600, max_lim_pct=50.0)
    assert gc.supersedes(req, var) and not gc.supersedes(req, limit)


def test_a_newer_control_supersedes_an_older_one_only_where_time_and_a_mode_overlap() -> None:
    old = gc.GroupControlRequest(NOW, 600, max_lim_pct=50.0, connect=True)
    same_mode = gc.GroupControlRequest(NOW + dt.timedelta(minutes=5), 600, max_lim_pct=30.0)
    other_mode = gc.GroupControlRequest(NOW, 600, fixed_var_pct=10.0)
    after_it = gc.GroupControlRequest(NOW + dt.timedelta(minutes=10), 600, max_lim_pct=30.0)
    assert gc.supersedes(same_mode, old)
    assert not gc.supersedes(other_mode, old)
    assert not gc.supersedes(after_it, old)  # starts as the old one ends
    assert gc.event_status(old, False, NOW, superseded=True) == gc.SUPERSEDED
    assert gc.event_status(old, True, NOW, superseded=True) == gc.CANCELLED
