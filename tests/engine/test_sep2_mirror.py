"""2030.5 Metering Mirror codecs: MirrorUsagePoint documents validate against sep.xsd and round
trip; readings become monitoring values in the registry's units and signs (hand-computed
references); readings it cannot take are refused with a reason."""

from __future__ import annotations

import random

import pytest

from apps.der_registry.engine.sep2 import mirror as mup
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.mirror import MeteringError, ReadingType, ReadingValue
from apps.der_registry.engine.sep2.simulator import (
    DeviceState,
    meter_readings,
    mirror_doc,
    mirror_mrid,
    sim_measurements,
)
from apps.der_registry.engine.sep2.xmlcodec import SepXmlError, schema_problem, to_bytes

LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
T = 1_780_000_000
P_OUT = ReadingType(38, 0, mup.FLOW_REVERSE)
P_IN = ReadingType(38, 0, mup.FLOW_FORWARD)
Q_OUT = ReadingType(63, 0, mup.FLOW_REVERSE)
Q_IN = ReadingType(63, 0, mup.FLOW_FORWARD)
VOLTS = ReadingType(29, -1)
HZ = ReadingType(33, -2)


def view() -> mup.MirrorView:
    readings = tuple(
        mup.MeterReadingView(mirror_mrid(LFDI, i), name, rt, T, value)
        for i, (name, rt, value) in enumerate((("P", P_OUT, 4200), ("V", VOLTS, 2431)), start=1)
    )
    return mup.MirrorView(5, mirror_mrid(LFDI), LFDI, 0x49, 0, 1, "inverter", 60, readings)


def test_every_mirror_document_validates_against_the_schema() -> None:
    docs = {
        "DeviceCapability": res.device_capability(60, 1, 1),
        "MirrorUsagePointList": mup.mirror_list([view()], 1, 60),
        "MirrorUsagePoint": mup.mirror_element(view()),
        "posted MirrorUsagePoint": mirror_doc(LFDI),
        "MirrorMeterReadingList": mup.meter_reading_list(
            meter_readings(LFDI, {"P": 4200.0, "Q": -300.0, "V": 241.2, "f": 60.01}, False)
        ),
        "empty MirrorUsagePointList": mup.mirror_list([], 0, 60),
    }
    for name, doc in docs.items():
        assert schema_problem(to_bytes(doc)) == "", (name, schema_problem(to_bytes(doc)))
    link = res.device_capability(60, 1, 3).find("{http://ieee.org/2030.5}MirrorUsagePointListLink")
    assert link is not None and link.attrib == {"all": "3", "href": "/mup"}


def test_a_mirror_and_its_readings_round_trip() -> None:
    posted = mup.decode_mirror(to_bytes(mirror_doc(LFDI)))
    assert (posted.mrid, posted.device_lfdi, posted.role_flags, posted.service_category) == (
        mirror_mrid(LFDI),
        LFDI,
        0x49,
        0,
    )
    assert [m.reading_type for m in posted.meter_readings] == [
        ReadingType(38, 0, 19),
        ReadingType(63, 0, 19),
        ReadingType(29, -1, 0),
        ReadingType(33, -2, 0),
    ]
    sent = meter_readings(LFDI, {"P": 4200.0, "Q": -300.0, "V": 241.26, "f": 60.013}, False)
    back = mup.decode_meter_readings(to_bytes(mup.meter_reading_list(sent)))
    assert back == tuple(sent)
    assert [m.readings[0].value for m in back] == [4200, -300, 2413, 6001]
    one = mup.decode_meter_readings(to_bytes(mup.meter_reading_element(sent[0])))
    assert one == (sent[0],)


def test_a_reading_set_decodes_each_reading_at_its_time() -> None:
    body = f"""<MirrorMeterReading xmlns="http://ieee.org/2030.5"><mRID>{mirror_mrid(LFDI, 1)}</mRID>
      <MirrorReadingSet><mRID>{mirror_mrid(LFDI, 9)}</mRID><timePeriod><duration>60</duration>
      <start>{T}</start></timePeriod>
        <Reading><value>100</value></Reading>
        <Reading><qualityFlags>0010</qualityFlags><timePeriod><duration>0</duration>
        <start>{T + 30}</start></timePeriod><value>200</value></Reading>
      </MirrorReadingSet></MirrorMeterReading>""".encode()
    (posted,) = mup.decode_meter_readings(body)
    assert posted.reading_type is None
    assert posted.readings == (ReadingValue(100, T, 0), ReadingValue(200, T + 30, 0x10))


def test_readings_become_monitoring_values_with_the_registry_signs() -> None:
    readings = [
        ("a", P_OUT, ReadingValue(4200, T)),  # 4.2 kW received from the customer: generation
        ("b", Q_IN, ReadingValue(1500, T)),  # 1.5 kvar delivered to the customer: absorbed
        ("c", VOLTS, ReadingValue(2460, T)),  # 246.0 V on a 240 V DER
        ("d", HZ, ReadingValue(5998, T)),
    ]
    (sample,) = mup.monitoring_values(readings, 240.0, T + 5)
    assert sample == pytest.approx(
        {"t_s": T, "p_kw": 4.2, "q_kvar": -1.5, "v_pu": 1.025, "f_hz": 59.98, "quality": "good"}
    )
    flipped = [("a", P_IN, ReadingValue(3000, T)), ("b", Q_OUT, ReadingValue(800, T))]
    assert mup.monitoring_values(flipped, 240.0, T)[0] == pytest.approx(
        {"t_s": T, "p_kw": -3.0, "q_kvar": 0.8, "quality": "good"}
    )
    kilo = ReadingType(38, 3, mup.FLOW_REVERSE)
    assert mup.monitoring_values([("a", kilo, ReadingValue(7, None))], None, T)[0]["p_kw"] == 7.0  # 7 kW


def test_per_phase_readings_sum_power_and_average_voltage_per_time() -> None:
    def phased(rt: ReadingType, phase: int) -> ReadingType:
        return ReadingType(rt.uom, rt.power_of_ten, rt.flow_direction, phase)

    readings = [
        ("a", phased(P_OUT, 128), ReadingValue(1000, T)),
        ("b", phased(P_OUT, 64), ReadingValue(2000, T, 0x04)),  # estimated
        ("c", phased(VOLTS, 128), ReadingValue(2400, T)),
        ("d", phased(VOLTS, 64), ReadingValue(2448, T)),
        ("a", phased(P_OUT, 128), ReadingValue(1100, T + 60)),
    ]
    first, second = mup.monitoring_values(readings, 240.0, T)
    assert first == pytest.approx({"t_s": T, "p_kw": 3.0, "v_pu": 1.01, "quality": "questionable"})
    assert second == pytest.approx({"t_s": T + 60, "p_kw": 1.1, "quality": "good"})


@pytest.mark.parametrize(
    ("rt", "nominal", "words"),
    [
        (ReadingType(38, 0, 0), 240.0, "needs flowDirection 1"),
        (ReadingType(63, 0, 4), 240.0, "needs flowDirection 1"),
        (ReadingType(38, 12, 19), 240.0, "between -9 and 9"),
        (VOLTS, None, "no nominal voltage"),
    ],
)
def test_readings_it_cannot_take_are_refused_in_words(
    rt: ReadingType, nominal: float | None, words: str
) -> None:
    with pytest.raises(MeteringError, match=words):
        mup.monitoring_values([("a", rt, ReadingValue(1, T))], nominal, T)


def test_readings_of_a_quantity_not_monitored_are_left_out_of_the_samples() -> None:
    energy, current = ReadingType(72, 0, 19), ReadingType(5, 0, 1)
    readings = [
        ("e", energy, ReadingValue(99, T)),
        ("c", current, ReadingValue(7, T)),
        ("v", VOLTS, ReadingValue(2448, T)),
    ]
    (sample,) = mup.monitoring_values(readings, 240.0, T)
    assert sample == pytest.approx({"t_s": T, "v_pu": 1.02, "quality": "good"})


def test_two_readings_of_one_quantity_for_one_phase_and_time_are_refused() -> None:
    with pytest.raises(MeteringError, match="same phase and time"):
        mup.monitoring_values([("a", P_OUT, ReadingValue(1, T)), ("b", P_IN, ReadingValue(2, T))], 240.0, T)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            f'<MirrorUsagePoint xmlns="http://ieee.org/2030.5"><mRID>{"AB" * 16}</mRID>'
            "<roleFlags>49</roleFlags>"
            "<serviceCategoryKind>0</serviceCategoryKind><status>1</status></MirrorUsagePoint>",
            "does not follow the 2030.5 schema",
        ),
        ('<MirrorMeterReading xmlns="http://ieee.org/2030.5"/>', "does not follow the 2030.5 schema"),
        ('<EndDevice xmlns="http://ieee.org/2030.5"/>', "Expected a MirrorMeterReading"),
        (
            '<MirrorMeterReading xmlns="http://ieee.org/2030.5"><mRID>01</mRID>'
            "<ReadingType><powerOfTenMultiplier>0</powerOfTenMultiplier></ReadingType></MirrorMeterReading>",
            "has no uom",
        ),
    ],
)
def test_bad_mirror_bodies_are_refused_with_a_reason(body: str, words: str) -> None:
    with pytest.raises(SepXmlError, match=words):
        if "MirrorUsagePoint" in body:
            mup.decode_mirror(body.encode())
        else:
            mup.decode_meter_readings(body.encode())


def test_the_simulated_inverter_follows_its_control_in_what_it_measures() -> None:
    device = DeviceState("/edev/1", LFDI, rated_w=5000.0, limit_pct=50.0, target_var=-1500.0)
    measured = sim_measurements(device, random.Random(1))
    assert 0.55 * 2500 <= measured["P"] <= 0.75 * 2500 and measured["Q"] == -1500.0
    assert 0.99 * 240 <= measured["V"] <= 1.03 * 240 and abs(measured["f"] - 60.0) <= 0.02
