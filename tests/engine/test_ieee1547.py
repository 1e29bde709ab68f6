"""IEEE 1547-2018 information-model validation, effective values and 2030.5 identities."""

from __future__ import annotations

from dataclasses import replace

from apps.der_registry.engine.ieee1547 import (
    RegistryContext,
    Severity,
    effective_ratings,
    reactive_capability_warnings,
    validate_der,
    validate_ratings,
)
from apps.der_registry.engine.sep2_identity import (
    lfdi_from_certificate,
    sfdi_from_lfdi,
    sfdi_problem,
)
from tests.conftest import LFDI, make_record

CTX = RegistryContext(
    bus_phases={("ieee13", "675"): frozenset({1, 2, 3}), ("ieee13", "611"): frozenset({3})},
    known_feeders=frozenset({"ieee13"}),
    known_aggregators=frozenset({"agg"}),
)


def fields_of(issues: list) -> set[str]:
    return {i.field for i in issues if i.severity is Severity.ERROR}


def test_it_accepts_a_complete_category_b_inverter() -> None:
    assert validate_der(make_record(), CTX) == []


def test_it_rejects_apparent_rating_below_active_rating() -> None:
    rec = make_record(nameplate=replace(make_record().nameplate, apparent_power_kva=9.0))
    issues = validate_der(rec, CTX)
    assert fields_of(issues) == {"apparent_power_kva"}
    assert "9 kVA" in issues[0].message and "10 kW" in issues[0].message


def test_it_requires_voltage_min_below_nominal_below_max() -> None:
    plate = replace(make_record().nameplate, v_min_v=250.0, v_max_v=230.0)
    assert {i.field for i in validate_ratings(plate)} == {"v_min_v", "v_max_v"}


def test_it_rejects_a_phase_the_bus_does_not_have() -> None:
    issues = validate_der(make_record(bus="611", phases=(1,)), CTX)
    assert fields_of(issues) == {"phases"}
    assert "phase(s) 3 only" in issues[0].message


def test_it_rejects_unknown_feeder_and_bus() -> None:
    assert fields_of(validate_der(make_record(feeder="nowhere"), CTX)) == {"feeder"}
    assert fields_of(validate_der(make_record(bus="999"), CTX)) == {"bus"}


def test_it_rejects_a_dnp3_address_already_used_on_the_same_channel() -> None:
    dnp3 = dict(
        comm_path="dnp3_direct",
        lfdi="",
        sfdi=None,
        dnp3_host="10.0.0.5",
        dnp3_port=20000,
        dnp3_outstation_address=7,
        dnp3_master_address=1,
    )
    ctx = replace(CTX, taken_dnp3=frozenset({("10.0.0.5", 20000, 7)}))
    assert fields_of(validate_der(make_record(**dnp3), ctx)) == {"dnp3_outstation_address"}
    other_channel = {**dnp3, "dnp3_port": 20001}
    assert validate_der(make_record(**other_channel), ctx) == []


def test_it_checks_lfdi_form_and_sfdi_check_digit_and_match() -> None:
    assert fields_of(validate_der(make_record(lfdi="XYZ"), CTX)) == {"lfdi"}
    sfdi = sfdi_from_lfdi(LFDI)
    wrong_digit = sfdi - sfdi % 10 + (sfdi % 10 + 1) % 10
    issues = validate_der(make_record(sfdi=wrong_digit), CTX)
    assert fields_of(issues) == {"sfdi"} and "check digit" in issues[0].message
    other = sfdi_from_lfdi("0" * 40)
    issues = validate_der(make_record(sfdi=other), CTX)
    assert fields_of(issues) == {"sfdi"} and "does not match" in issues[0].message


def test_it_computes_the_2030_5_worked_example_sfdi() -> None:
    # IEEE 2030.5-2018 §6.3.4 example: this LFDI has SFDI 167261211391.
    assert sfdi_from_lfdi(LFDI) == 167261211391
    assert sfdi_problem(167261211391) == ""


def test_it_derives_lfdi_from_the_certificate_fingerprint() -> None:
    import hashlib

    cert = b"0\x82\x01\x0a certificate DER bytes"
    expected = hashlib.sha256(cert).hexdigest()[:40].upper()  # 160 leftmost bits
    assert lfdi_from_certificate(cert) == expected


def test_it_warns_but_accepts_category_b_below_44_percent_reactive() -> None:
    plate = replace(make_record().nameplate, reactive_injected_kvar=3.0)
    issues = validate_der(make_record(nameplate=plate), CTX)
    assert fields_of(issues) == set()
    [warning] = issues
    assert warning.severity is Severity.WARNING and "44%" in warning.message
    assert "4.84 kvar" in warning.message


def test_it_applies_category_a_absorption_at_25_percent() -> None:
    plate = replace(make_record().nameplate, reactive_absorbed_kvar=2.75)  # exactly 25 % of 11
    assert reactive_capability_warnings(plate, "A") == []
    assert len(reactive_capability_warnings(plate, "B")) == 1


def test_it_uses_configuration_only_when_both_parties_agreed() -> None:
    plate = make_record().nameplate
    config = type(plate)(active_power_kw=8.0)
    only_one = effective_ratings(plate, config, operator_agreed=True, utility_agreed=False)
    assert only_one["active_power_kw"].value == 10.0
    assert only_one["active_power_kw"].source == "nameplate"
    both = effective_ratings(plate, config, operator_agreed=True, utility_agreed=True)
    assert (both["active_power_kw"].value, both["active_power_kw"].source) == (8.0, "configuration")
    assert both["apparent_power_kva"].source == "nameplate"


def test_it_checks_a_configuration_against_the_nameplate_it_overrides() -> None:
    config = type(make_record().nameplate)(active_power_kw=12.0)  # above the 11 kVA nameplate
    issues = validate_der(make_record(configuration=config), CTX)
    assert fields_of(issues) == {"cfg_active_power_kw"}
    assert "cannot be below the active power rating (12 kW)" in issues[0].message


def test_it_requires_an_aggregator_for_the_aggregator_path() -> None:
    rec = make_record(comm_path="via_aggregator", lfdi="", sfdi=None)
    assert fields_of(validate_der(rec, CTX)) == {"aggregator"}
    assert validate_der(replace(rec, aggregator="agg"), CTX) == []


def test_it_derives_a_missing_sfdi_from_the_lfdi() -> None:
    from apps.der_registry.engine.ieee1547 import complete_identity

    rec = complete_identity(make_record(lfdi=LFDI.lower(), sfdi=None))
    assert (rec.lfdi, rec.sfdi) == (LFDI, 167261211391)
    assert validate_der(rec, CTX) == []
