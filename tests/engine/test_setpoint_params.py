"""A set point's power factor against the DER's reactive ratings, hand-solved: at P kW the vars a
power factor needs are P·tan(acos|pf|), so the lowest power factor a DER with Q_max kvar can hold
is P / √(P² + Q_max²)."""

from __future__ import annotations

import math

import pytest

from apps.der_registry.engine.curves import VOLT_VAR_1547_B, WATT_VAR_1547_B
from apps.der_registry.engine.setpoint_params import ReactiveRoom, filled, min_power_factor, problem

ROOM = ReactiveRoom(10.0, "the 10 kW rating", 4.84, 3.0)  # injects up to 4.84 kvar, absorbs up to 3


def test_the_lowest_power_factor_is_p_over_s() -> None:
    assert min_power_factor(10.0, 4.84) == pytest.approx(0.90011, abs=1e-5)  # 10 / 11.1098
    assert min_power_factor(3.0, 4.0) == pytest.approx(0.6)  # the 3-4-5 triangle
    assert min_power_factor(0.0, 4.0) == 1.0


@pytest.mark.parametrize(
    ("pf", "words"),
    [
        (0.91, ""),  # 10·tan(acos 0.91) = 4.56 kvar ≤ 4.84
        (-0.96, ""),  # 10·tan(acos 0.96) = 2.92 kvar ≤ 3 absorbed
        (1, ""),
        (-0.95, "would need 3.287 kvar at the 10 kW rating; the DER can absorb at most 3 kvar"),
        (0.9, "would need 4.843 kvar"),  # 4.843 > 4.84: just past the rating
        (1.2, "between 0.901 and 1 (injecting vars) or -0.958 and -1 (absorbing vars)"),
        (math.nan, "between 0.901 and 1"),
        (True, "must be a number"),
    ],
)
def test_a_power_factor_is_judged_against_the_reactive_maximum_its_way(pf: float, words: str) -> None:
    found = problem("constant_pf", {"pf": pf}, ROOM)
    assert (words in found) if words else found == "", found


def test_a_p_limit_leaves_room_for_a_lower_power_factor() -> None:
    limited = ReactiveRoom(5.0, "the 5 kW limit", 4.84, 3.0)
    assert problem("constant_pf", {"pf": 0.8}, limited) == ""  # 5·0.75 = 3.75 kvar
    assert "3.75 kvar at the 5 kW limit" in problem("constant_pf", {"pf": -0.8}, limited)


def test_parameters_only_where_a_mode_takes_them() -> None:
    assert problem("active_reactive", {}, ROOM) == ""
    assert "takes no parameters in a set point (got pf)" in problem("active_reactive", {"pf": 0.9}, ROOM)
    assert "takes only pf (not curve)" in problem("constant_pf", {"pf": 0.95, "curve": []}, ROOM)
    assert "an object such as" in problem("constant_pf", [0.95], ROOM)


def test_a_curve_mode_takes_a_curve_checked_like_a_default_modes() -> None:
    assert problem("volt_var", {}, ROOM) == ""  # the DER's own curve, or 1547's, is filled in
    assert problem("volt_var", {"curve": [[0.95, 0.3], [1.05, -0.3]]}, ROOM) == ""
    assert "Q rises from -0.3 to 0.3" in problem("volt_var", {"curve": [[0.95, -0.3], [1.05, 0.3]]}, ROOM)
    assert "P must be between 0 and 1" in problem("watt_var", {"curve": [[0.2, 0.0], [1.5, -0.4]]}, ROOM)
    assert "takes only curve (not pf)" in problem("volt_var", {"pf": 0.9}, ROOM)


def test_the_curve_sent_is_the_given_one_else_the_ders_own_else_1547s() -> None:
    given = {"curve": [[0.95, 0.3], [1.05, -0.3]]}
    own = {"curve": [[0.9, 0.44], [1.1, -0.44]]}
    assert filled("volt_var", given, "volt_var", own) == given
    assert filled("volt_var", {}, "volt_var", own) == own
    # The DER's own curve is of another mode: the standard's default of this one.
    assert filled("volt_var", {}, "watt_var", own)["curve"] == [list(p) for p in VOLT_VAR_1547_B]
    assert filled("watt_var", {}, "", {})["curve"] == [list(p) for p in WATT_VAR_1547_B]
    assert filled("constant_pf", {"pf": 0.9}, "volt_var", own) == {"pf": 0.9}
