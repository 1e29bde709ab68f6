"""What a 2030.5 device follows when several programs carry controls (`engine/sep2/following.py`):
by primacy, mode by mode, within each control's (randomized) interval. Hand-worked cases."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from apps.der_registry.engine.group_controls import GroupControlRequest
from apps.der_registry.engine.sep2 import default_docs as dd
from apps.der_registry.engine.sep2 import groups
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.defaults import curves, default_control
from apps.der_registry.engine.sep2.following import (
    Curve,
    ProgramControls,
    curve_of,
    following,
    in_force,
    on_curve,
    spread_s,
    with_curve,
    with_power_factor,
)
from apps.der_registry.engine.sep2.model import CURVE_VOLT_VAR, ControlView, GroupControlView
from apps.der_registry.engine.sep2.xmlcodec import q, to_bytes

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


VOLT_VAR_B = [[0.92, 0.44], [0.98, 0.0], [1.02, 0.0], [1.08, -0.44]]


def own_default(mode: str, params: dict[str, object]) -> ProgramControls:
    return ProgramControls(10, (), dd.default_der_control(default_control(5, mode, params)))


def test_the_default_sets_what_no_control_in_force_sets() -> None:
    constant = own_default("constant_var", {"q_kvar": -2.0})
    assert following([constant], NOW, LFDI).target_var == -2000.0
    # The dispatch's Q wins over the default; its P limit beside the default's nothing.
    with_set_point = ProgramControls(10, own(1500.0, 80.0).controls, constant.default)
    assert (
        following([with_set_point], NOW, LFDI).target_var,
        following([with_set_point], NOW, LFDI).limit_pct,
    ) == (
        1500.0,
        80.0,
    )
    # The default of the lowest-primacy program that has one.
    other = ProgramControls(
        5, (), dd.default_der_control(default_control(6, "constant_var", {"q_kvar": 1.0}))
    )
    assert following([constant, other], NOW, LFDI).target_var == 1000.0


def test_a_curve_mode_is_followed_on_the_curve_it_links() -> None:
    now = following([own_default("volt_var", {"curve": VOLT_VAR_B})], NOW, LFDI)
    assert (now.curve, now.target_var, now.var_pct) == ("/derp/5/dc/1", None, None)
    (served,) = curves("volt_var", {"curve": VOLT_VAR_B}, NOW)
    curve = curve_of(ET.fromstring(to_bytes(dd.der_curve(5, served))))
    assert curve == Curve(CURVE_VOLT_VAR, ((92.0, 44.0), (98.0, 0.0), (102.0, 0.0), (108.0, -44.0)))
    # Hand-solved on IEEE 1547 category B: linear between points, flat beyond the ends.
    assert [on_curve(curve, v) for v in (90.0, 95.0, 100.0, 103.0, 110.0)] == pytest.approx(
        [44.0, 22.0, 0.0, -44.0 / 6, -44.0]
    )
    assert with_curve(now, curve, 103.0, 50.0).var_pct == pytest.approx(-7.33)
    assert with_curve(following([], NOW, LFDI), curve, 103.0, 50.0).var_pct is None  # no curve asked


def test_a_fixed_power_factor_is_held_as_the_q_the_output_needs() -> None:
    now = following([own_default("constant_pf", {"pf": -0.95})], NOW, LFDI)
    assert (now.fixed_pf, now.target_var) == (-0.95, None)
    # Hand-solved: 6 kW at 0.95 needs 6000·tan(acos 0.95) = 1972.1 var, absorbed (EEI: pf < 0).
    assert with_power_factor(now, 6000.0).target_var == pytest.approx(-1972.1, abs=0.1)
    assert with_power_factor(now, 0.0).target_var == 0.0
    injecting = following([own_default("constant_pf", {"pf": 0.9})], NOW, LFDI)
    assert with_power_factor(injecting, 4000.0).target_var == pytest.approx(1937.3, abs=0.1)


def test_it_says_which_control_or_default_set_each_quantity() -> None:
    curtail = GroupControlRequest(NOW - dt.timedelta(minutes=1), 600, max_lim_pct=40.0)
    programs = [
        ProgramControls(10, own(1500.0, 80.0).controls, own_default("", {}).default),
        group(5, curtail),
    ]
    by = dict(following(programs, NOW, LFDI).set_by)
    # mRID kinds: 09 a group control, 01 a set point, 03 a DER's own default.
    assert (by["limit_pct"][:2], by["q"][:2], by["connected"][:2]) == ("09", "01", "03")
    assert "target_w" not in by
