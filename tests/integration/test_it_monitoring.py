"""Monitoring: samples with time and quality; a value older than its update period is stale."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.test import Client
from django.utils import timezone

from apps.der_registry import actions
from apps.der_registry.models import LatestMonitoring, MonitoringSample
from tests.conftest import as_json, dnp3

ROOT = Path(__file__).resolve().parents[2]


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


def test_it_every_live_demo_der_answers_through_a_protocol_of_the_demo_plant(
    db: None, tmp_path: Path
) -> None:
    """The demo board shows nothing made up: every active demo DER but the deliberately silent ones
    is pointed at a device the Procfile's plant serves (a DNP3 outstation, a 2030.5 client or a
    device behind the aggregator), so its telemetry and confirmations come through a protocol."""
    from apps.der_registry.demo import (
        DNP3_BASE_PORT,
        SEP2_AGGREGATED,
        SEP2_DEVICES,
        connect_field,
        seed_registry,
    )
    from apps.der_registry.demo_ckt5 import PV_UNITS
    from apps.der_registry.engine.sep2.sim_fleet import aggregated_devices, demo_clients
    from apps.der_registry.models import DER

    seed_registry()
    certs = tmp_path / "sep2"
    plan = connect_field(certs)
    plant = next(t for t in (ROOT / "Procfile").read_text().splitlines() if t.startswith("plant:"))
    # the aggregator also manages ckt5's rooftop PV, after these (tests/integration/test_it_demo_ckt5.py)
    assert f"--sep2 {SEP2_DEVICES} --sep2-aggregated {SEP2_AGGREGATED + PV_UNITS}" in plant
    served = {c.lfdi for c in demo_clients(SEP2_DEVICES, certs)} | {
        d.lfdi for d in aggregated_devices(SEP2_AGGREGATED)
    }
    reporting = [
        d
        for d in DER.objects.filter(status="active", serial_number__startswith="DEMO-")
        if int(d.serial_number[5:]) % 13 != 2  # silent on purpose: the stale-telemetry display
    ]
    unserved = [
        d.name
        for d in reporting
        if not (d.comm_path == "dnp3_direct" and (d.dnp3_port or 0) >= DNP3_BASE_PORT)
        and d.lfdi not in served
    ]
    assert len(reporting) > 80 and not unserved, unserved
    assert plan["sep2"] == SEP2_DEVICES and plan["aggregated"] == SEP2_AGGREGATED  # none left over
