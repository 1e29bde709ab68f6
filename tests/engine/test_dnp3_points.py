"""DNP3 point maps, codecs, the simulated inverter, link supervision and tier emulation (no network)."""

from __future__ import annotations

import math

import pytest

from apps.alarms.engine.comm import CommWatch, Decision
from apps.dms.engine.dnp3 import points
from apps.dms.engine.dnp3.inverter import SimulatedInverter
from apps.dms.engine.dnp3.netem import RTO_S, TIERS, TierRelay
from apps.dms.engine.dnp3.points import AI, AO, BO, DER, EMS_DMS, CommandRefused, DERLimits

LIMITS = DERLimits(p_max_kw=10.0, q_inj_max_kvar=4.84, q_abs_max_kvar=4.84, s_max_kva=11.0)


def _out(name: str, kind: points.Kind = AO) -> points.Point:
    point = DER.named(kind, name)
    assert point is not None
    return point


def test_every_map_has_unique_indices_and_names_per_kind() -> None:
    for pmap in (EMS_DMS, DER):
        for kind in points.Kind:
            of_kind = pmap.of_kind(kind)
            assert len({p.index for p in of_kind}) == len(of_kind)
            assert len({p.name for p in of_kind}) == len(of_kind)


def test_ems_dms_map_carries_the_request_and_the_answer() -> None:
    outputs = {p.name for p in EMS_DMS.of_kind(AO)}
    request = {"q_request_kvar", "v_set_pu", "pv_curtail_kw", "dr_kw", "interval_s", "interval_id"}
    assert outputs == request | {"capability_request"}
    inputs = {p.name for p in EMS_DMS.points if p.kind is not AO}
    assert {"q_achieved_kvar", "q_min_kvar", "q_max_kvar", "dms_healthy", "fallback_active"} <= inputs
    # the DSO's operating point at collect, and a range computed on the EMS's ask (issue #12)
    metered = {"p_measured_kw", "q_measured_kvar", "v_measured_pu", "measured_at_s"}
    assert metered | {"capability_interval_id"} <= inputs


@pytest.mark.parametrize("value", [0.0, 1.2345, -4.8399, 9999.999, -0.0005])
def test_scaled_analog_round_trips_within_one_step(value: float) -> None:
    for point in DER.of_kind(AI):
        back = points.decode_analog(point, points.encode_analog(point, value))
        assert abs(back - value) <= 0.5 / point.scale + 1e-12


def test_codec_refuses_values_a_32_bit_point_cannot_carry() -> None:
    q = DER.by_name("q_kvar")
    with pytest.raises(CommandRefused, match="does not fit"):
        points.encode_analog(q, 3e6)
    with pytest.raises(CommandRefused, match="not a number"):
        points.encode_analog(q, math.nan)


def test_out_of_range_output_is_refused_with_the_range() -> None:
    with pytest.raises(CommandRefused, match=r"v_set_pu: 1.5 pu is outside 0.9 … 1.1 pu"):
        points.check_output(EMS_DMS.by_name("v_set_pu"), 1.5)
    with pytest.raises(CommandRefused, match=r"outside -4\.84"):
        LIMITS.check("q_set_kvar", -5.0)


def test_operating_state_codes_map_to_registry_names() -> None:
    assert [points.operating_state_name(c) for c in (0, 1, 2, 3, 7)] == [
        "off",
        "on",
        "standby",
        "fault",
        "unknown",
    ]


def test_inverter_follows_p_limit_and_gives_q_priority_inside_its_rating() -> None:
    inv = SimulatedInverter(LIMITS, available_kw=10.0)
    inv.command(_out("p_limit_kw"), 10.0)
    inv.command(_out("q_set_kvar"), 4.84)
    m = inv.measure()
    # reference: P trimmed so that P² + Q² = S² (11² − 4.84² = 97.5744 → 9.878 kW)
    assert m["q_kvar"] == pytest.approx(4.84)
    assert m["p_kw"] == pytest.approx(math.sqrt(11.0**2 - 4.84**2), abs=1e-9)
    inv.command(_out("p_limit_kw"), 6.0)
    assert inv.measure()["p_kw"] == pytest.approx(6.0)
    inv.command(_out("p_limit_enable", BO), 0.0)  # limit disabled: back to what the sun gives
    assert inv.measure()["p_kw"] == pytest.approx(math.sqrt(11.0**2 - 4.84**2), abs=1e-9)


def test_inverter_refuses_a_set_point_beyond_its_rating_and_keeps_the_old_one() -> None:
    inv = SimulatedInverter(LIMITS, available_kw=8.0)
    q_point = _out("q_set_kvar")
    inv.command(q_point, -2.0)
    with pytest.raises(CommandRefused):
        inv.command(q_point, 7.5)
    assert inv.measure()["q_set_kvar"] == -2.0


def test_comm_watch_raises_after_the_timeout_and_clears_on_the_next_answer() -> None:
    w = CommWatch(timeout_s=5.0, started_s=100.0)
    assert w.answered(101.0) is Decision.NONE
    w.link_down(102.0)
    assert w.check(105.9) is Decision.NONE
    assert w.check(106.1) is Decision.RAISE
    assert w.reason.startswith("link down")
    assert w.check(200.0) is Decision.NONE  # raised once
    assert w.answered(201.0) is Decision.CLEAR
    assert w.check(203.0) is Decision.NONE


def test_comm_watch_alarms_a_device_that_never_answered() -> None:
    w = CommWatch(timeout_s=3.0, started_s=0.0)
    assert w.check(2.9) is Decision.NONE
    assert w.check(3.0) is Decision.RAISE
    assert w.reason == "no connection within 3 s"


def test_tier_delays_stay_inside_latency_plus_jitter_or_one_retransmission() -> None:
    for tier in TIERS.values():
        relay = TierRelay(tier, [])
        for _ in range(500):
            d = relay._delay()
            base = d - RTO_S if d > tier.latency_s + tier.jitter_s + 1e-9 else d
            assert tier.latency_s - tier.jitter_s - 1e-9 <= base <= tier.latency_s + tier.jitter_s + 1e-9
