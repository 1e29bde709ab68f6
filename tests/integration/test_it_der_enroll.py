"""Admins enroll and edit DERs through the form; bad input gets field messages and writes nothing."""

from __future__ import annotations

from typing import Any

from django.test import Client

from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi
from apps.der_registry.models import DER, LifecycleEvent
from crest_web.accounts.models import AuditRecord
from tests.conftest import LFDI


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "pv-675-a",
        "serial_number": "SN-0001",
        "der_type": "pv",
        "manufacturer": "Invertix",
        "model": "IX-10",
        "firmware_version": "1.0",
        "np_active_power_kw": "10",
        "np_apparent_power_kva": "11",
        "np_reactive_injected_kvar": "4.84",
        "np_reactive_absorbed_kvar": "4.84",
        "np_v_nominal_v": "240",
        "np_v_min_v": "211.2",
        "np_v_max_v": "264",
        "normal_category": "B",
        "abnormal_category": "II",
        "supported_modes": ["active_reactive", "volt_var"],
        "control_mode": "active_reactive",
        "feeder": "ieee13",
        "bus": "675",
        "phases": ["1"],
        "ownership": "customer",
        "comm_path": "sep2_direct",
        "lfdi": LFDI,
        "sfdi": str(sfdi_from_lfdi(LFDI)),
        "expected_update_s": "60",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_it_enrolls_a_der_as_pending_with_an_audit_record(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/ders/enroll/", form_data())
    der = DER.objects.get(name="pv-675-a")
    assert response.status_code == 302 and response["Location"] == f"/ders/{der.pk}/"
    assert der.status == "pending" and der.phases == [1] and der.sfdi == 167261211391
    assert LifecycleEvent.objects.get(der=der).by_name == "adm1"
    record = AuditRecord.objects.get(action="der.enroll", object_id=str(der.pk))
    assert record.actor_name == "adm1" and record.after["np_active_power_kw"] == 10.0


def test_it_shows_a_field_error_for_a_bad_nameplate_and_saves_nothing(
    admin_client: Client, ieee13: Any
) -> None:
    response = admin_client.post("/ders/enroll/", form_data(np_apparent_power_kva="8"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "cannot be below the active power rating (10 kW)" in errors["np_apparent_power_kva"][0]
    assert b"Nothing was saved" in response.content
    assert not DER.objects.exists() and not AuditRecord.objects.filter(action="der.enroll")


def test_it_reports_wrong_types_per_field(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/ders/enroll/", form_data(np_active_power_kw="ten", phases=None))
    errors = response.context["form"].errors
    assert set(errors) == {"np_active_power_kw", "phases"}
    assert not DER.objects.exists()


def test_it_rejects_a_duplicate_serial_number(admin_client: Client, enrolled: Any) -> None:
    enrolled()
    response = admin_client.post(
        "/ders/enroll/",
        form_data(
            name="pv-other",
            lfdi="",
            sfdi=None,
            comm_path="dnp3_direct",
            dnp3_host="10.1.1.1",
            dnp3_port="20000",
            dnp3_outstation_address="5",
            dnp3_master_address="1",
        ),
    )
    assert response.context["form"].errors["serial_number"] == [
        "Serial number 'SN-0001' is already enrolled."
    ]
    assert DER.objects.count() == 1


def test_it_rejects_a_bad_sfdi_beside_the_field(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/ders/enroll/", form_data(sfdi="167261211392"))
    assert "check digit" in response.context["form"].errors["sfdi"][0]


def test_it_rejects_a_phase_missing_at_the_bus(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/ders/enroll/", form_data(bus="611", phases=["1"]))
    assert response.context["form"].errors["phases"] == [
        "Bus 611 has phase(s) 3 only; phase(s) 1 do not exist there."
    ]


def test_it_warns_about_compliance_but_enrolls(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/ders/enroll/", form_data(np_reactive_injected_kvar="3"), follow=True)
    der = DER.objects.get()
    assert der.compliance == "warning"
    assert b"Saved with IEEE 1547 compliance warnings" in response.content
    assert b"Category B requires the ability to inject at least 44%" in response.content


def test_it_edits_a_der_and_audits_each_changed_field(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    response = admin_client.post(f"/ders/{der.pk}/edit/", form_data(np_active_power_kw="9.5"))
    assert response.status_code == 302
    record = AuditRecord.objects.get(action="der.update")
    assert ("np_active_power_kw", 10.0, 9.5) in record.changed_fields()


def test_it_keeps_a_der_unchanged_when_an_edit_is_invalid(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    response = admin_client.post(f"/ders/{der.pk}/edit/", form_data(np_v_min_v="250"))
    assert response.status_code == 400
    der.refresh_from_db()
    assert der.np_v_min_v == 211.2 and not AuditRecord.objects.filter(action="der.update")


def test_it_hides_the_enroll_control_from_an_operator(operator_client: Client) -> None:
    assert b"enroll-link" not in operator_client.get("/ders/").content
    assert operator_client.post("/ders/enroll/", form_data()).status_code == 403
