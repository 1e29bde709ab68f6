"""The registry REST API: filters, pagination, writes through the same validation, no partial writes."""

from __future__ import annotations

from typing import Any

from django.test import Client

from apps.der_registry.models import DER
from crest_web.accounts.models import AuditRecord
from tests.conftest import LFDI, as_json, dnp3


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "pv-api-1",
        "serial_number": "API-1",
        "active_power_kw": 10,
        "apparent_power_kva": 11,
        "reactive_injected_kvar": 4.84,
        "reactive_absorbed_kvar": 4.84,
        "v_nominal_v": 240,
        "v_min_v": 211.2,
        "v_max_v": 264,
        "feeder": "ieee13",
        "bus": "675",
        "phases": [2],
        "lfdi": LFDI,
        "sfdi": 167261211391,
    }
    data.update(changes)
    return data


def test_it_enrolls_through_the_api_and_reports_effective_values(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post("/api/ders/", body(), content_type="application/json")
    assert response.status_code == 201, response.content
    data = as_json(response)
    assert data["status"] == "pending" and data["phases"] == [2]
    assert data["effective"]["apparent_power_kva"] == {"value": 11.0, "source": "nameplate"}
    assert data["monitoring"] is None


def test_it_rejects_bad_input_field_by_field_and_writes_nothing(admin_client: Client, ieee13: Any) -> None:
    response = admin_client.post(
        "/api/ders/", body(active_power_kw="lots", phases=[4]), content_type="application/json"
    )
    assert response.status_code == 400
    errors = as_json(response)["errors"]
    assert errors["active_power_kw"] == ["A valid number is required."]
    assert "phases" in errors
    response = admin_client.post("/api/ders/", body(feeder="nowhere"), content_type="application/json")
    assert as_json(response)["errors"] == {"feeder": ["There is no feeder named 'nowhere'."]}
    assert not DER.objects.exists()
    assert not AuditRecord.objects.filter(object_type="der_registry.der").exists()


def test_it_refuses_an_operator_with_403(operator_client: Client, ieee13: Any) -> None:
    response = operator_client.post("/api/ders/", body(), content_type="application/json")
    assert response.status_code == 403
    assert not DER.objects.exists()


def test_it_patches_one_field_and_keeps_the_rest(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    response = admin_client.patch(
        f"/api/ders/{der.pk}/", {"firmware_version": "2.0"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    der.refresh_from_db()
    assert der.firmware_version == "2.0" and der.lfdi == LFDI and der.np_active_power_kw == 10


def test_it_filters_and_paginates(admin_client: Client, enrolled: Any) -> None:
    enrolled("active")
    for i in range(3):
        enrolled(
            name=f"dnp-{i}",
            serial_number=f"D-{i}",
            **dnp3(i + 10),
            bus="611",
            phases=(3,),
        )
    page = as_json(admin_client.get("/api/ders/?protocol=dnp3_direct&page_size=2"))
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert as_json(admin_client.get("/api/ders/?phase=1&status=active"))["count"] == 1
    assert as_json(admin_client.get(f"/api/ders/?q={LFDI}"))["results"][0]["name"] == "pv-675-a"
    assert as_json(admin_client.get("/api/ders/?q=167261211391"))["count"] == 1
    bad = admin_client.get("/api/ders/?status=asleep")
    assert bad.status_code == 400 and "status" in as_json(bad)["errors"]


def test_it_moves_a_der_through_its_lifecycle(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    ok = admin_client.post(
        f"/api/ders/{der.pk}/lifecycle/", {"target": "approved"}, content_type="application/json"
    )
    assert as_json(ok)["status"] == "approved"
    bad = admin_client.post(
        f"/api/ders/{der.pk}/lifecycle/", {"target": "suspended"}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert "An approved DER cannot become suspended" in as_json(bad)["errors"]["status"][0]


def test_it_publishes_an_openapi_schema(operator_client: Client) -> None:
    response = operator_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    schema = as_json(response)
    assert "/api/ders/" in schema["paths"] and "/api/ders/{id}/lifecycle/" in schema["paths"]
    assert operator_client.get("/api/docs/").status_code == 200


def test_it_records_set_points_within_effective_limits(admin_client: Client, enrolled: Any) -> None:
    der = enrolled("active")
    too_much = admin_client.post(
        f"/api/ders/{der.pk}/setpoints/",
        {"control_mode": "active_reactive", "q_kvar": 6},
        content_type="application/json",
    )
    assert too_much.status_code == 400
    assert "between -4.84 and 4.84" in as_json(too_much)["errors"]["q_kvar"][0]
    ok = admin_client.post(
        f"/api/ders/{der.pk}/setpoints/",
        {"control_mode": "active_reactive", "p_limit_kw": 8, "q_kvar": 4},
        content_type="application/json",
    )
    assert ok.status_code == 201
    history = as_json(admin_client.get(f"/api/ders/{der.pk}/setpoints/"))["results"]
    assert [(h["q_kvar"], h["source"], h["issued_by"]) for h in history] == [(4.0, "manual", "adm1")]


def test_it_refuses_a_power_factor_the_der_cannot_hold_and_keeps_the_current_set_point(
    admin_client: Client, enrolled: Any
) -> None:
    """Seen before: {"control_mode": "constant_pf", "params": {"pf": 5}} was taken (201) and served to
    the device as opModFixedPF displacement 500. A power factor is signed (EEI: negative while
    absorbing vars) and must be one the DER's reactive ratings can hold at its rated active power:
    10 kW with at most 4.84 kvar either way is a power factor of 0.90 or more (hand-solved:
    cos(atan(4.84 / 10)) = 0.9003)."""
    der = enrolled("active", supported_modes=("active_reactive", "constant_pf"))
    url = f"/api/ders/{der.pk}/setpoints/"
    assert (
        admin_client.post(
            url, {"control_mode": "active_reactive", "q_kvar": 2}, "application/json"
        ).status_code
        == 201
    )
    refused = [
        (
            {"control_mode": "constant_pf", "params": {"pf": 5}},
            "between 0.901 and 1 (injecting vars) or -0.901 and -1",
        ),
        ({"control_mode": "constant_pf", "params": {"pf": "abc"}}, "must be a number, not 'abc'"),
        ({"control_mode": "constant_pf", "params": {"pf": 0}}, "between 0.901 and 1"),
        ({"control_mode": "constant_pf", "params": {"pf": 0.5}}, "would need 17.32 kvar at the 10 kW rating"),
        ({"control_mode": "constant_pf", "params": {"pf": -0.8}}, "would need 7.5 kvar at the 10 kW rating"),
        ({"control_mode": "constant_pf", "params": {"pf": 0.95, "v": 1}}, "takes only pf"),
        ({"control_mode": "constant_pf", "p_limit_kw": 5}, "needs its power factor"),
        ({"control_mode": "active_reactive", "q_kvar": 1, "params": {"pf": 0.95}}, "takes no parameters"),
    ]
    for body, words in refused:
        answer = admin_client.post(url, body, "application/json")
        assert answer.status_code == 400, body
        assert words in " ".join(as_json(answer)["errors"].get("params", [])), (body, as_json(answer))
    assert [(s.control_mode, s.status) for s in der.setpoints.all()] == [("active_reactive", "issued")]
    ok = admin_client.post(url, {"control_mode": "constant_pf", "params": {"pf": -0.95}}, "application/json")
    assert ok.status_code == 201 and as_json(ok)["params"] == {"pf": -0.95}


def test_it_takes_a_power_factor_in_the_set_point_form_and_shows_it_in_the_history(
    admin_client: Client, enrolled: Any
) -> None:
    der = enrolled("active", supported_modes=("active_reactive", "constant_pf"))
    page = admin_client.post(f"/ders/{der.pk}/setpoint/", {"control_mode": "constant_pf", "pf": "0.5"})
    assert page.status_code == 400
    assert page.context["setpoint_form"].errors["pf"] == [
        "A power factor of 0.5 would need 17.32 kvar at the 10 kW rating; the DER can inject at most "
        "4.84 kvar (a power factor of 0.901 or nearer 1)."
    ]
    assert not der.setpoints.exists()
    done = admin_client.post(f"/ders/{der.pk}/setpoint/", {"control_mode": "constant_pf", "pf": "-0.95"})
    assert done.status_code == 302 and der.setpoints.get().params == {"pf": -0.95}
    assert "(PF -0.95)" in admin_client.get(f"/ders/{der.pk}/").content.decode()
    other = enrolled("active", name="pv-2", serial_number="SN-0002", **dnp3(7))
    assert "pf" not in admin_client.get(f"/ders/{other.pk}/").context["setpoint_form"].fields  # no PF mode


def test_it_does_not_delete_ders(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    assert admin_client.delete(f"/api/ders/{der.pk}/").status_code == 405


def test_it_refuses_an_empty_set_point_and_keeps_the_current_one(admin_client: Client, enrolled: Any) -> None:
    der = enrolled("active")
    admin_client.post(
        f"/api/ders/{der.pk}/setpoints/",
        {"control_mode": "active_reactive", "q_kvar": 2},
        content_type="application/json",
    )
    empty = admin_client.post(
        f"/api/ders/{der.pk}/setpoints/", {"control_mode": "active_reactive"}, content_type="application/json"
    )
    assert empty.status_code == 400
    assert der.setpoints.get().status == "issued"


def test_it_shows_set_point_errors_beside_the_form_with_units(admin_client: Client, enrolled: Any) -> None:
    der = enrolled("active")
    page = admin_client.post(f"/ders/{der.pk}/setpoint/", {"control_mode": "active_reactive", "q_kvar": "9"})
    assert page.status_code == 400
    assert "Q must be between -4.84 and 4.84 kvar (got 9 kvar)." in page.content.decode()
    assert page.context["setpoint_form"].data["q_kvar"] == "9"  # what was typed is kept
    modes = [c[0] for c in page.context["setpoint_form"].fields["control_mode"].choices]
    assert modes == ["active_reactive", "volt_var"]  # only what the DER supports


def test_it_filters_by_stale_telemetry(operator_client: Client, enrolled: Any) -> None:
    from apps.der_registry import actions

    fresh = enrolled("active")
    silent = enrolled(
        "active",
        name="pv-quiet",
        serial_number="SN-Q",
        **dnp3(9, host="10.0.0.4"),
    )
    actions.do_record_monitoring(None, "system", fresh.pk, {"p_kw": 2.0})
    names = [d["name"] for d in as_json(operator_client.get("/api/ders/?telemetry=stale"))["results"]]
    assert names == [silent.name]
    assert as_json(operator_client.get("/api/ders/?q=3E4F45AB31ED"))["results"][0]["name"] == fresh.name
