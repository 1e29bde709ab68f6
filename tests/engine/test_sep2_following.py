"""What a 2030.5 device follows when several programs carry controls (`engine/sep2/following.py`):
by primacy, mode by mode, within each control's (randomized) interval. Hand-worked cases."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from apps.der_registry.engine.group_controls import GroupControlRequest
from apps.der_registry.engine.sep2 import groups
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.following import ProgramControls, following, in_force, spread_s
from apps.der_registry.engine.sep2.model import ControlView, GroupControlView
from apps.der_registry.engine.sep2.xmlcodec import q

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
LFDI = "AB" * 20


def own(q_var: float, max_lim_pct: float | None = None) -> ProgramControls:
    view = ControlView(1, NOW - dt.timedelta(minutes=5), "issued", "dispatch", max_lim_pct, q_var)
    return ProgramControls(10, (res.der_control(5, view),))


def group(primacy: int, *requests: GroupControlRequest, cancelled: bool = False) -> ProgramControls:
    views = [
        GroupControlView(n, 7, NOW, r, NOW if cancelled else None) for n, r in enumerate(requests, start=1)
    ]
    return ProgramControls(primacy, tuple(groups.group_control(v, NOW) for v in views))


def test_the_lower_primacy_wins_each_mode_it_sets_and_leaves_the_others() -> None:
    curtail = GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, max_lim_pct=40.0)
    after = following([own(1500.0, 80.0), group(20, curtail)], NOW, LFDI)
    assert (after.limit_pct, after.target_var, after.connected) == (80.0, 1500.0, True)
    before = following([own(1500.0, 80.0), group(5, curtail)], NOW, LFDI)
    assert (before.limit_pct, before.target_var) == (40.0, 1500.0)  # the group sets no Q
    assert len(before.in_force) == 2


def test_a_fixed_var_share_replaces_the_target_var_only_from_a_higher_program() -> None:
    absorb = GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, fixed_var_pct=-50.0)
    assert following([own(1500.0), group(5, absorb)], NOW, LFDI).var_pct == -50.0
    assert following([own(1500.0), group(5, absorb)], NOW, LFDI).target_var is None
    assert following([own(1500.0), group(20, absorb)], NOW, LFDI).target_var == 1500.0


def test_disconnect_or_cease_to_energize_leaves_the_device_disconnected() -> None:
    for request in (
        GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, connect=False),
        GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, connect=True, energize=False),
    ):
        assert following([own(0.0), group(20, request)], NOW, LFDI).connected is False


def test_a_control_is_in_force_only_within_its_interval_and_not_once_cancelled() -> None:
    later = GroupControlRequest(NOW + dt.timedelta(minutes=1), 600, connect=False)
    over = GroupControlRequest(NOW - dt.timedelta(hours=1), 600, connect=False)
    assert following([group(5, later, over)], NOW, LFDI).connected is True
    running = GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, connect=False)
    assert following([group(5, running, cancelled=True)], NOW, LFDI).connected is True


def test_randomization_spreads_devices_within_the_window_the_same_way_each_time() -> None:
    shares = {spread_s(f"{n:040X}", "09AB", 120) for n in range(200)}
    assert min(shares) >= 0 and max(shares) <= 120 and len(shares) > 60  # spread, not one step
    assert spread_s(LFDI, "09AB", 120) == spread_s(LFDI, "09AB", 120)
    request = GroupControlRequest(NOW, 600, randomize_start_s=120, connect=False)
    control: ET.Element = groups.group_control(GroupControlView(1, 7, NOW, request), NOW)
    mrid = control.findtext(q("mRID")) or ""
    delay = spread_s(LFDI, mrid, 120)
    assert not in_force(control, NOW + dt.timedelta(seconds=delay - 1), LFDI) or delay == 0
    assert in_force(control, NOW + dt.timedelta(seconds=delay), LFDI)


def test_a_p_target_is_its_own_mode_beside_the_limit() -> None:
    target = GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, target_w_kw=3.5)
    now = following([own(1500.0, 80.0), group(20, target)], NOW, LFDI)
    assert (now.limit_pct, now.target_w, now.target_var) == (80.0, 3500.0, 1500.0)
    assert following([own(1500.0, 80.0)], NOW, LFDI).target_w is None
