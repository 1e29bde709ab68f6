"""A utility DER's DNP3 profile: set points encoded in the variation it parses, the IEEE 1815.2 map
checked against the MESA-DER profile's own point list, and the registry's checks of both settings."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest

from apps.der_registry.engine.ieee1547 import RegistryContext, Severity, validate_der
from apps.dms.engine.dnp3.der_maps import DER_MAPS, IEEE1815_2, encode_setpoint, operating_state, v_pu
from apps.dms.engine.dnp3.inverter import SimulatedInverter
from apps.dms.engine.dnp3.points import AI, AO, BI, BO, DER, CommandRefused, DERLimits
from tests.conftest import dnp3, make_record

P_LIMIT = IEEE1815_2.named(AO, "p_limit_kw")  # AO509 in the device's profile
Q_SET = IEEE1815_2.named(AO, "q_set_kvar")  # AO511
assert P_LIMIT is not None and Q_SET is not None


@pytest.mark.parametrize(
    ("variation", "value", "wire"),
    [
        ("g41v1", -3.96, -3960),  # kvar → var, a whole number
        ("g41v2", 32.767, 32767),  # the top of the 16-bit range
        ("g41v3", -3.96, -3960.0),
        ("g41v4", 6.5, 6500.0),
    ],
)
def test_a_set_point_travels_in_w_and_var_in_the_variation_the_device_parses(
    variation: str, value: float, wire: float
) -> None:
    encoded = encode_setpoint(Q_SET, value, variation)
    assert encoded == wire and type(encoded) is type(wire)


def test_a_set_point_its_variation_cannot_carry_is_refused_with_the_reason_before_anything_is_sent() -> None:
    with pytest.raises(CommandRefused, match=r"40 kW is 40000 on the wire, outside what g41v2 carries"):
        encode_setpoint(P_LIMIT, 40.0, "g41v2")
    assert encode_setpoint(P_LIMIT, 40.0, "g41v1") == 40000
    with pytest.raises(CommandRefused, match="not a number"):
        encode_setpoint(P_LIMIT, float("nan"), "g41v1")
    with pytest.raises(CommandRefused, match="not an analog output variation"):
        encode_setpoint(P_LIMIT, 1.0, "g41v9")


def test_the_compact_maps_set_points_keep_travelling_in_kw_and_kvar() -> None:
    compact = DER.named(AO, "p_limit_kw")
    assert compact is not None and encode_setpoint(compact, 6.25) == 6.25  # g41v4, as the simulators parse


def _profile() -> dict[str, dict[int, dict[str, Any]]]:
    data = json.loads((files("dnp3.mesa") / "data" / "profiles" / "full.json").read_text())
    return {kind: {p["point_index"]: p for p in data[kind]["points"]} for kind in ("AI", "AO", "BI", "BO")}


def test_the_ieee1815_2_map_names_the_profiles_points_at_their_indices_and_scales() -> None:
    """Each point is the MESA-DER profile's (same IEC 61850 name) and its scale undoes the
    profile's multiplier: kW and kvar travel as W and var, Hz as mHz, volts as 0.1 V."""
    profile = _profile()
    for point in IEEE1815_2.points:
        entry = profile[point.kind.value][point.index]
        uid = ".".join(entry["iec_61850_uid"].split(".")[:2])  # e.g. SYS.MMXU of SYS.MMXU.TotW
        assert uid in point.description, (point, uid)
        if point.kind in (AI, AO):
            per_unit = 1000 if point.unit in ("kW", "kvar") else 1
            assert point.scale == pytest.approx(per_unit / entry["multiplier"]), point
    # Every set point is followed by the enable of its mode, both the profile's associated points.
    for output, enable in DER_MAPS["ieee1815_2"].enables:
        ao, bo = IEEE1815_2.named(AO, output), IEEE1815_2.named(BO, enable)
        assert ao is not None and bo is not None
        status = profile["BO"][bo.index]["assoc_bi"]
        assert IEEE1815_2.at(BI, int(status[2:])) is not None  # the mode's status is read back


def test_voltage_and_operating_state_come_from_the_devices_own_points() -> None:
    assert v_pu({"v_ll_v": 242.4, "v_ref_v": 240.0}) == pytest.approx(1.01)
    assert v_pu({"v_ll_v": 242.4, "v_ref_v": 0.0}) is None  # no reference reported: no pu
    assert operating_state({"connected_generating": 1.0}) == "on"
    assert operating_state({"connected_idle": 1.0}) == "standby"
    assert operating_state({"off_blocked": 1.0, "connected_generating": 0.0}) == "off"
    assert operating_state({}) is None


CTX = RegistryContext(bus_phases={("ieee13", "675"): frozenset({1})}, known_feeders=frozenset({"ieee13"}))


def _issues(**changes: Any) -> dict[str, str]:
    issues = validate_der(make_record(**dnp3(10, **changes)), CTX)
    return {i.field: i.message for i in issues if i.severity is Severity.ERROR}


def test_the_registry_accepts_what_a_devices_profile_can_say_and_explains_what_it_cannot() -> None:
    assert _issues() == {}  # compact map, g41v4: what the field simulator and the plant serve
    assert _issues(dnp3_point_map="ieee1815_2", dnp3_ao_variation="g41v2") == {}
    assert "g41v3 or g41v4" in _issues(dnp3_ao_variation="g41v1")["dnp3_ao_variation"]
    assert "must be one of" in _issues(dnp3_ao_variation="g41v9")["dnp3_ao_variation"]
    assert "must be one of" in _issues(dnp3_point_map="mesa")["dnp3_point_map"]


def test_a_simulated_inverter_on_the_1815_2_map_holds_a_value_until_its_mode_is_enabled() -> None:
    """IEEE 1815.2 separates a mode's value from its enable; the compact map's value enables it."""
    limits = DERLimits(10.0, 4.84, 4.84, 11.0)
    mesa = SimulatedInverter(limits, available_kw=8.0, point_map=DER_MAPS["ieee1815_2"])
    mesa.command(IEEE1815_2.named(AO, "q_set_kvar"), 3.0)  # type: ignore[arg-type]
    assert mesa.output() == (8.0, 0.0) and mesa.measure()["q_set_kvar"] == 3.0
    mesa.command(IEEE1815_2.named(BO, "q_set_enable"), 1.0)  # type: ignore[arg-type]
    assert mesa.output()[1] == 3.0
    compact = SimulatedInverter(limits, available_kw=8.0)
    compact.command(DER.named(AO, "q_set_kvar"), 3.0)  # type: ignore[arg-type]
    assert compact.output()[1] == 3.0


def test_a_simulated_inverter_reports_what_each_map_names() -> None:
    """One set of readings serves either map: 1815.2's line-to-line voltage over its reference
    reads back as the pu the compact map sends, and its state bits as the operating state."""
    readings = SimulatedInverter(DERLimits(10.0, 4.84, 4.84, 11.0), available_kw=8.0).measure()
    served = {p.name for p in IEEE1815_2.points if p.kind in (AI, BI)}
    assert served <= set(readings)
    values = {k: float(v) for k, v in readings.items()}
    assert v_pu(values) == pytest.approx(values["v_pu"])
    assert operating_state(values) == "on"
