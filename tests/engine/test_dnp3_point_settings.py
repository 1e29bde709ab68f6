"""Per-point settings of the outstation database, written through `opendnp3_points` and read back
through the binding itself: what the outstation is built from is what was asked."""

from __future__ import annotations

import opendnp3 as dnp3
import opendnp3_points
import pytest

from apps.dms.engine.dnp3.outstation import database
from apps.dms.engine.dnp3.points import AI, AO, BI, DER, EMS_DMS, Point, PointMap


def test_the_database_of_a_map_holds_exactly_its_indices_of_each_type_and_no_other_type() -> None:
    config = database(EMS_DMS)
    assert set(config.binary_input) == {p.index for p in EMS_DMS.of_kind(BI)}
    assert set(config.analog_input) == {p.index for p in EMS_DMS.of_kind(AI)}
    assert set(config.analog_output_status) == {p.index for p in EMS_DMS.of_kind(AO)}
    for unused in ("binary_output_status", "double_binary", "counter", "frozen_counter"):
        assert getattr(config, unused) == {}, unused
    assert database(DER).binary_output_status  # a map with binary outputs gets their status points


def test_a_points_event_class_is_written_and_its_other_settings_stay_the_bindings_defaults() -> None:
    points = PointMap(
        "m", (Point(AI, 3, "a", "kW", "", event_class=2), Point(AI, 7, "b", "kW", "", event_class=0))
    )
    analogs = database(points).analog_input
    default = opendnp3_points.defaults()["analog_input"]
    assert {i: c.clazz for i, c in analogs.items()} == {
        3: int(dnp3.PointClass.Class2),
        7: int(dnp3.PointClass.Class0),
    }
    for c in analogs.values():
        assert (c.svariation, c.evariation, c.deadband) == (default.svariation, default.evariation, 0.0)


def test_settings_round_trip_through_the_binding_and_each_point_is_its_own_copy() -> None:
    config = dnp3.DatabaseConfig(0)
    template = opendnp3_points.defaults()["analog_output_status"]
    v3 = int(dnp3.StaticAnalogOutputStatusVariation.Group40Var3)
    config.analog_output_status = opendnp3_points.points(
        template, {0: {"svariation": v3, "deadband": 0.5}, 4: {}}
    )
    back = config.analog_output_status
    assert (back[0].svariation, back[0].deadband) == (v3, 0.5)
    assert (back[4].svariation, back[4].deadband) == (template.svariation, 0.0)


def test_a_setting_outside_its_one_octet_field_is_refused_not_truncated() -> None:
    with pytest.raises(TypeError):
        opendnp3_points.points(opendnp3_points.defaults()["binary_input"], {0: {"clazz": 258}})
