"""The default mode as 2030.5 resources: what the DefaultDERControl carries, and the curve it links."""

from __future__ import annotations

import datetime as dt

from apps.der_registry.engine.sep2.defaults import curves, default_control
from apps.der_registry.engine.sep2.model import CURVE_VOLT_VAR, CURVE_WATT_VAR

T0 = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
CURVE = [[0.92, 0.44], [1.08, -0.44]]


def test_each_mode_carries_its_setting() -> None:
    assert default_control(5, "", {}).description == "Connected, energized"
    pf = default_control(5, "constant_pf", {"pf": -0.95})
    assert (pf.fixed_pf, pf.description) == (-0.95, "Default: Constant power factor")
    assert default_control(5, "constant_var", {"q_kvar": -2.0}).target_var == -2000.0  # var
    assert default_control(5, "volt_var", {"curve": CURVE}).curve == "opModVoltVar"
    assert default_control(5, "watt_var", {"curve": [[0.2, 0], [1, -0.44]]}).curve == "opModWattVar"


def test_a_curve_mode_links_a_curve_only_when_there_is_one_to_serve() -> None:
    assert default_control(5, "volt_var", {}).curve == ""  # the device's own curve
    assert default_control(5, "volt_var", {"curve": [[1.0, 0.0]]}).curve == ""
    [vv] = curves("volt_var", {"curve": CURVE}, T0)
    assert (vv.curve_id, vv.curve_type, vv.points) == (1, CURVE_VOLT_VAR, ((92.0, 44.0), (108.0, -44.0)))
    assert curves("watt_var", {"curve": CURVE}, T0)[0].curve_type == CURVE_WATT_VAR
    assert curves("constant_pf", {"curve": CURVE}, T0) == []  # only a curve mode serves one
