"""A DER's default mode settings, checked before they are kept (hand-solved cases; the volt–var
default is IEEE 1547-2018 Table 8, category B)."""

from __future__ import annotations

import pytest

from apps.der_registry.engine.curves import VOLT_VAR_1547_B, VOLT_WATT_1547
from apps.der_registry.engine.mode_settings import normalised, problem
from apps.der_registry.engine.setpoint_params import ReactiveRoom

ROOM = ReactiveRoom(10.0, "the 10 kW rating", 4.84, 4.84)


def test_the_1547_category_b_curve_is_a_valid_volt_var_curve() -> None:
    assert problem("volt_var", {"curve": [list(p) for p in VOLT_VAR_1547_B]}, ROOM) == ""
    assert VOLT_VAR_1547_B[0] == (0.92, 0.44) and VOLT_VAR_1547_B[-1] == (1.08, -0.44)


@pytest.mark.parametrize(
    ("mode", "params", "words"),
    [
        ("active_reactive", {}, ""),
        ("volt_var", {}, ""),  # the device's own curve
        ("constant_var", {"q_kvar": -4.84}, ""),
        ("constant_var", {"q_kvar": 5}, "between -4.84 and 4.84 kvar"),
        ("constant_var", {"q_kvar": "2"}, "must be a number of kvar"),
        ("constant_pf", {"pf": 0.91}, ""),  # 10·tan(acos 0.91) = 4.56 kvar
        ("constant_pf", {"pf": 0.85}, "would need 6.197 kvar"),  # 10·tan(acos 0.85)
        ("watt_var", {"curve": [[0.2, 0], [1.0, -0.44]]}, ""),
        ("watt_var", {"curve": [[0.2, 0], [1.2, -0.44]]}, "the P must be between 0 and 1 of the rating"),
        ("watt_var", {}, "needs its curve"),
        ("volt_var", {"curve": [[0.92, 0.44], [0.92, 0.0]]}, "must rise from point to point"),
        ("volt_var", {"curve": [[0.92, 0.44], [1.1, "x"]]}, "Point 2 of the curve must be two numbers"),
        ("volt_var", {"curve": [[0.9 + i / 100, 0] for i in range(11)]}, "2 to 10 points"),
        ("active_reactive", {"pf": 1}, "takes no settings (not pf)"),
        ("sideways", {}, "'sideways' is not a control mode"),
        # The volt–watt curve, beside any mode or none (IEEE 1547-2018 Table 10 default: 1.06 1; 1.1 0.2)
        ("", {"volt_watt": [[1.06, 1.0], [1.1, 0.2]]}, ""),
        ("volt_var", {"curve": [[0.92, 0.44], [1.08, -0.44]], "volt_watt": [[1.06, 1], [1.1, 0]]}, ""),
        ("constant_pf", {"pf": 0.95, "volt_watt": [[1.06, 1], [1.1, 0.2]]}, ""),
        ("", {"volt_watt": [[1.06, 0.2], [1.1, 1.0]]}, "Volt–watt curve: Point 2: P rises from 0.2 to 1"),
        ("", {"volt_watt": [[1.06, 1.0], [1.1, -0.2]]}, "Volt–watt curve: Point 2: P is a fraction of the"),
        ("", {"volt_watt": [[1.06, 1.0], [1.6, 0.2]]}, "the voltage must be between 0.5 and 1.5 pu"),
        ("", {"volt_watt": [[1.06, 1.0]]}, "A volt–watt curve is a list of 2 to 10 points [voltage, P]"),
        ("", {"pf": 0.95}, "Without a default mode there are no settings to keep"),
        ("", {}, ""),
    ],
)
def test_settings_are_judged_by_their_mode(mode: str, params: dict[str, object], words: str) -> None:
    found = problem(mode, params, ROOM)
    assert (words in found) if words else found == "", found


def test_settings_are_kept_as_floats() -> None:
    assert normalised({"curve": [[1, 0], [2, -1]], "pf": 1, "volt_watt": [[1, 1], [2, 0]]}) == {
        "curve": [[1.0, 0.0], [2.0, -1.0]],
        "pf": 1.0,
        "volt_watt": [[1.0, 1.0], [2.0, 0.0]],
    }


def test_the_1547_volt_watt_default_is_a_valid_volt_watt_curve() -> None:
    assert problem("", {"volt_watt": [list(p) for p in VOLT_WATT_1547]}, ROOM) == ""
