"""Alarms: one active alarm per (kind, source), cleared and acknowledged with an audit trail; the
gateway raises a communication alarm when a DER outstation stops and clears it when it returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.alarms.actions import AlarmError, do_acknowledge_alarm, do_clear_alarm, do_raise_alarm
from apps.alarms.counts import alarm_counts
from apps.alarms.models import Alarm
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.netem import TIERS, Tier
from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.dnp3.simulator import FieldSim, SimDER
from apps.dms.gateway import Dnp3Gateway, GatewayOptions
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json, client_for, dnp3
from tests.integration.dnp3_support import ports, until

LIMITS = DERLimits(p_max_kw=10.0, q_inj_max_kvar=4.84, q_abs_max_kvar=4.84, s_max_kva=11.0)


def _raise(source_id: str = "17", kind: str = "comm_failure") -> tuple[Alarm, bool]:
    return do_raise_alarm(
        None,
        "system",
        kind=kind,
        source_type="der",
        source_id=source_id,
        source_label="pv-17",
        message="pv-17 is silent",
    )


def test_it_raising_twice_keeps_one_active_alarm(db: None) -> None:
    first, new = _raise()
    again, new_again = _raise()
    assert (new, new_again, again.pk) == (True, False, first.pk)
    assert Alarm.objects.filter(cleared_at__isnull=True).count() == 1
    assert AuditRecord.objects.filter(action="alarm.raise").count() == 1
    cleared = do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id="17")
    assert cleared is not None and cleared.cleared_at is not None
    assert do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id="17") is None
    third, new_third = _raise()  # the condition returns: a new alarm, the old one stays in history
    assert new_third and third.pk != first.pk
    assert Alarm.objects.count() == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "gremlins"}, "Unknown alarm kind 'gremlins'"),
        ({"message": "  "}, "needs a message"),
    ],
)
def test_it_bad_alarm_requests_are_refused_and_store_nothing(
    db: None, changes: dict[str, str], message: str
) -> None:
    args: dict[str, Any] = {
        "kind": "violation",
        "source_type": "feeder",
        "source_id": "ieee13",
        "message": "V > 1.05 pu",
    }
    with pytest.raises(AlarmError, match=message):
        do_raise_alarm(None, "system", **{**args, **changes})
    assert not Alarm.objects.exists()
    assert not AuditRecord.objects.filter(action__startswith="alarm").exists()


def test_it_operator_acknowledges_from_the_page_once(operator: User, operator_client: Client) -> None:
    alarm, _ = _raise()
    page = operator_client.get("/alarms/")
    assert page.status_code == 200
    assert b"pv-17 is silent" in page.content and b"1 active" in page.content
    response = operator_client.post(f"/alarms/{alarm.pk}/acknowledge/", {"show": "active"})
    assert response.status_code == 302
    alarm.refresh_from_db()
    assert (alarm.acknowledged_by, alarm.active) == (operator, True)
    assert AuditRecord.objects.filter(action="alarm.acknowledge", actor=operator).count() == 1
    with pytest.raises(AlarmError, match="already acknowledged"):
        do_acknowledge_alarm(operator, "web", alarm.pk)
    with pytest.raises(AlarmError, match="no alarm 999999"):
        do_acknowledge_alarm(operator, "web", 999999)


def test_it_alarm_api_is_read_only_and_filters_active(
    operator_client: Client, planner: User, outsider: User
) -> None:
    _raise("1")
    _raise("2")
    do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id="2")
    body = as_json(operator_client.get("/api/alarms/?active=true"))
    assert [(a["source_id"], a["active"]) for a in body["results"]] == [("1", True)]
    assert len(as_json(operator_client.get("/api/alarms/"))["results"]) == 2
    assert operator_client.post("/api/alarms/", {"kind": "violation"}).status_code in (403, 405)
    assert client_for(planner).post(f"/alarms/{Alarm.objects.first().pk}/acknowledge/").status_code == 403  # type: ignore[union-attr]
    assert client_for(outsider).get("/alarms/").status_code == 403
    assert client_for(outsider).get("/api/alarms/").status_code == 403


def test_it_stopped_outstation_raises_a_comm_alarm_and_restarting_clears_it(
    enrolled: Callable[..., Any],
) -> None:
    port = ports(1)
    der = enrolled(
        "active", name="dnp3-pv-alarm", serial_number="SN-ALARM", **dnp3(10, "127.0.0.1", dnp3_port=port)
    )
    sim = FieldSim([SimDER(port, 10, LIMITS, available_kw=8.0)])
    sim.start(update_s=0.5)
    master = MasterOptions(response_timeout_s=1.0, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=0.5)
    gateway = Dnp3Gateway(GatewayOptions(timeout_s=2.0, record_every_s=1.0, master=master))
    active = Alarm.objects.filter(
        kind="comm_failure", source_type="der", source_id=str(der.pk), cleared_at__isnull=True
    )
    try:
        gateway.load()
        assert until(lambda: gateway.watches[str(der.pk)].last_answer_s is not None, gateway.step)
        assert not active.exists()
        sim.stop_port(port)
        assert until(active.exists, gateway.step)
        alarm = active.get()
        assert alarm.source_label == "dnp3-pv-alarm" and "does not answer" in alarm.message
        sim.restart_port(port)
        assert until(lambda: not active.exists(), gateway.step)
        alarm.refresh_from_db()
        assert alarm.cleared_at is not None
        assert list(
            AuditRecord.objects.filter(object_type="alarms.alarm", object_id=str(alarm.pk))
            .values_list("action", flat=True)
            .order_by("at")
        ) == [
            "alarm.raise",
            "alarm.clear",
        ]
    finally:
        gateway.close()
        sim.stop()


def test_it_a_scripted_field_network_outage_raises_and_clears_the_alarm(enrolled: Callable[..., Any]) -> None:
    port = ports(1)
    der = enrolled(
        "active", name="dnp3-pv-fan", serial_number="SN-FAN", **dnp3(10, "127.0.0.1", dnp3_port=port)
    )
    fan = TIERS["fan"]
    tier = Tier("fan", fan.latency_s, fan.jitter_s, 0.0, outages=((2.0, 5.0),))  # silent from 2 s to 7 s
    sim = FieldSim([SimDER(port, 10, LIMITS, available_kw=8.0, tier="fan")], tiers={"fan": tier})
    sim.start(update_s=0.5)
    master = MasterOptions(
        response_timeout_s=1.5, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=0.5, task_retry_s=0.5
    )
    gateway = Dnp3Gateway(GatewayOptions(timeout_s=2.5, record_every_s=1.0, master=master))
    alarms = Alarm.objects.filter(kind="comm_failure", source_id=str(der.pk))
    try:
        gateway.load()
        assert until(lambda: alarms.filter(cleared_at__isnull=True).exists(), gateway.step)
        assert until(lambda: alarms.filter(cleared_at__isnull=False).exists(), gateway.step)
        assert alarms.count() == 1
    finally:
        gateway.close()
        sim.stop()


def test_it_alarm_page_says_what_was_acknowledged_and_keeps_to_its_two_views(
    operator_client: Client, planner: User
) -> None:
    alarm, _ = _raise()
    response = operator_client.post(f"/alarms/{alarm.pk}/acknowledge/", {"show": "//elsewhere.example"})
    assert response["Location"] == "/alarms/?show=active"
    page = operator_client.get(response["Location"]).content.decode()
    assert f"Alarm {alarm.pk} acknowledged: Communication failure, pv-17." in page
    again = operator_client.post(f"/alarms/{alarm.pk}/acknowledge/", {"show": "all"})
    assert again["Location"] == "/alarms/?show=all"
    assert "was already acknowledged" in operator_client.get(again["Location"]).content.decode()
    assert AuditRecord.objects.filter(action="alarm.acknowledge").count() == 1
    _raise("18")
    home = operator_client.get("/")
    assert home.context["alarms"] == {"active": 2, "listed": 2, "unacked": 1, "shelved": 0, "suppressed": 0}
    assert 'id="alarm-tile"' in home.content.decode()
    do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id="17")
    do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id="18")
    viewer = client_for(planner)
    listing = viewer.get("/alarms/?show=bogus")
    assert listing.context["show"] == "active" and "Acknowledge alarm" not in listing.content.decode()
    # cleared but never acknowledged: still waiting for someone; cleared and acknowledged: history
    assert [a.source_id for a in listing.context["page"]] == ["18"]
    assert len(viewer.get("/alarms/?show=all").context["page"]) == 2
    assert viewer.post(f"/alarms/{alarm.pk}/acknowledge/").status_code == 403


def test_it_a_silent_segment_raises_one_alarm_and_suppresses_its_ders_own(
    enrolled: Callable[..., Any], operator_client: Client
) -> None:
    """Suppression by design: three DERs one network address reaches all go silent — one
    "segment down" alarm on the operator's list, the DERs' three kept but suppressed; when they
    answer again everything clears, the DERs' alarms still suppressed (history, not the list) — but
    one still silent after the grace is its own alarm again. One DER alone going silent is its own."""
    first = ports(3)
    ders = [
        enrolled(
            "active",
            name=f"pv-seg-{i}",
            serial_number=f"SN-SEG{i}",
            **dnp3(10, "127.0.0.1", dnp3_port=first + i),
        )
        for i in range(3)
    ]
    sim = FieldSim([SimDER(first + i, 10, LIMITS, available_kw=8.0) for i in range(3)])
    sim.start(update_s=0.5)
    master = MasterOptions(response_timeout_s=1.0, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=0.5)
    gateway = Dnp3Gateway(GatewayOptions(timeout_s=2.0, record_every_s=1.0, master=master))
    active = Alarm.objects.filter(cleared_at__isnull=True)
    try:
        gateway.load()
        assert until(lambda: all(w.last_answer_s for w in gateway.watches.values()), gateway.step)
        for i in range(3):
            sim.stop_port(first + i)
        assert until(lambda: active.filter(kind="comm_failure").count() == 3, gateway.step)
        segment = active.get(kind="segment_down")
        assert segment.source_id == "DNP3 DERs at 127.0.0.1"
        assert "All 3 DNP3 DERs at 127.0.0.1" in segment.message
        suppressed = active.filter(kind="comm_failure").values_list("suppressed_by", flat=True)
        assert set(suppressed) == {segment.source_id}
        listed = operator_client.get("/alarms/").context["page"]
        assert [a.kind for a in listed] == ["segment_down"]  # one alarm, not one per DER
        assert alarm_counts() == {"active": 4, "listed": 1, "unacked": 1, "shelved": 0, "suppressed": 3}

        sim.restart_port(first + 1)  # two come back; the first stays silent
        sim.restart_port(first + 2)
        straggler = active.filter(kind="comm_failure", source_id=str(ders[0].pk), suppressed_by="")
        assert until(straggler.exists, gateway.step)  # after the grace: its own failure, listed
        assert not active.filter(kind="segment_down").exists()
        listed = [(a.kind, a.source_id) for a in operator_client.get("/alarms/").context["page"]]
        assert ("comm_failure", str(ders[0].pk)) in listed
        # the two that came back cleared still suppressed: history, not the operator's list
        assert not {("comm_failure", str(d.pk)) for d in ders[1:]} & set(listed)
        sim.restart_port(first)
        assert until(lambda: not active.exists(), gateway.step)

        sim.stop_port(first)  # one DER alone: the segment is up, its alarm is the operator's
        assert until(lambda: active.filter(kind="comm_failure").exists(), gateway.step)
        alone = active.get(kind="comm_failure")
        assert alone.source_id == str(ders[0].pk) and alone.suppressed_by == ""
        assert not active.filter(kind="segment_down").exists()
    finally:
        gateway.close()
        sim.stop()
