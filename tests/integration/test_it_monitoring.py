"""Monitoring: samples with time and quality; a value older than its update period is stale."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client
from django.utils import timezone

from apps.der_registry import actions
from apps.der_registry.models import LatestMonitoring, MonitoringSample
from tests.conftest import as_json, dnp3


def test_it_records_a_sample_and_marks_it_fresh(operator_client: Client, enrolled: Any) -> None:
    der = enrolled("active")
    response = operator_client.post(
        f"/api/ders/{der.pk}/monitoring/",
        {
            "p_kw": 6.5,
            "q_kvar": -1.2,
            "v_pu": 1.02,
            "f_hz": 60.01,
            "operating_state": "on",
            "connection_status": "connected",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    monitoring = as_json(operator_client.get(f"/api/ders/{der.pk}/"))["monitoring"]
    assert (monitoring["p_kw"], monitoring["stale"], monitoring["quality"]) == (6.5, False, "good")


def test_it_shows_an_old_value_as_stale(operator_client: Client, enrolled: Any) -> None:
    der = enrolled("active", expected_update_s=30)
    actions.do_record_monitoring(
        None, "system", der.pk, {"t": timezone.now() - dt.timedelta(seconds=31), "p_kw": 5.0}
    )
    assert as_json(operator_client.get(f"/api/ders/{der.pk}/"))["monitoring"]["stale"] is True
    assert b"STALE" in operator_client.get(f"/ders/{der.pk}/").content
    assert b'class="badge stale"' in operator_client.get("/ders/").content


def test_it_keeps_the_newest_value_when_samples_arrive_out_of_order(enrolled: Any) -> None:
    der = enrolled("active")
    now = timezone.now()
    actions.do_record_monitoring(None, "system", der.pk, {"t": now, "p_kw": 7.0})
    actions.do_record_monitoring(None, "system", der.pk, {"t": now - dt.timedelta(minutes=1), "p_kw": 3.0})
    assert LatestMonitoring.objects.get(der=der).p_kw == 7.0
    assert MonitoringSample.objects.filter(der=der).count() == 2


def test_it_rejects_impossible_values_and_stores_nothing(operator_client: Client, enrolled: Any) -> None:
    der = enrolled("active")
    for bad in (
        {"v_pu": 7.0},
        {"f_hz": "NaN"},
        {"operating_state": "dancing"},
        {"t": (timezone.now() + dt.timedelta(hours=1)).isoformat()},
    ):
        response = operator_client.post(
            f"/api/ders/{der.pk}/monitoring/", bad, content_type="application/json"
        )
        assert response.status_code == 400, bad
        assert as_json(response)["errors"], bad
    assert not MonitoringSample.objects.exists()


def test_it_lets_a_planner_read_but_not_write_monitoring(planner: Any, enrolled: Any) -> None:
    from tests.conftest import client_for

    der = enrolled("active")
    client = client_for(planner)
    assert client.get(f"/api/ders/{der.pk}/monitoring/").status_code == 200
    assert (
        client.post(
            f"/api/ders/{der.pk}/monitoring/", {"p_kw": 1}, content_type="application/json"
        ).status_code
        == 403
    )


def test_it_counts_active_ders_without_fresh_telemetry_on_the_overview(
    operator_client: Client, enrolled: Any
) -> None:
    fresh = enrolled("active")
    silent = enrolled(
        "active",
        name="pv-silent",
        serial_number="SN-S",
        **dnp3(4, host="10.0.0.3"),
    )  # never reported
    actions.do_record_monitoring(None, "system", fresh.pk, {"p_kw": 1.0})
    from apps.der_registry.models import DER

    assert list(DER.objects.with_stale_telemetry(timezone.now())) == [silent]
    page = operator_client.get("/")
    assert page.context["stale"] == 1


def test_it_keeps_the_demo_board_fresh_except_the_deliberately_silent_ones(db: None) -> None:
    from apps.der_registry.demo import play_telemetry, seed_registry
    from apps.der_registry.models import DER

    seed_registry(count=30)
    now = timezone.now()
    written = play_telemetry(now)
    active = DER.objects.filter(status="active")
    stale = active.with_stale_telemetry(timezone.now())
    # DNP3 DERs report through the gateway (the demo's field simulator), not this stand-in.
    played = active.exclude(comm_path="dnp3_direct")
    assert written == played.count() - stale.filter(pk__in=played).count() > 0
    assert all(int(d.serial_number[5:]) % 13 == 2 for d in stale)
    assert not MonitoringSample.objects.filter(t=now, der__comm_path="dnp3_direct").exists()
