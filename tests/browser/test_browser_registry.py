"""An admin enrolls a DER in a real browser, fixes a bad nameplate, approves it; an operator
sees no enroll control and the API refuses them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from apps.der_registry.models import DER
from tests.browser.conftest import shot
from tests.conftest import LFDI

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/ders/")
    expect(page).to_have_url(f"{base}/login/?next=/ders/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-Password-123")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("DER registry")


def fill_der_form(page: Page, apparent_kva: str) -> None:
    values = {
        "name": "pv-browser-1",
        "serial_number": "BR-0001",
        "manufacturer": "Invertix",
        "np_active_power_kw": "10",
        "np_apparent_power_kva": apparent_kva,
        "np_reactive_injected_kvar": "4.84",
        "np_reactive_absorbed_kvar": "4.84",
        "np_v_nominal_v": "240",
        "np_v_min_v": "211.2",
        "np_v_max_v": "264",
        "bus": "675",
        "lfdi": LFDI,
        "sfdi": "167261211391",
    }
    for name, value in values.items():
        page.fill(f"#id_{name}", value)
    for name, option in {
        "normal_category": "B",
        "abnormal_category": "II",
        "feeder": "ieee13",
        "ownership": "customer",
        "comm_path": "sep2_direct",
        "control_mode": "active_reactive",
        "der_type": "pv",
    }.items():
        page.select_option(f"#id_{name}", option)
    page.check("#id_phases_0")


def test_it_lets_an_admin_enroll_fix_and_approve(
    live_server: Any, admin_user: User, ieee13: Any, page: Page
) -> None:
    sign_in(page, live_server.url, "adm1")
    page.click("#enroll-link")
    fill_der_form(page, apparent_kva="8")
    page.click("#save")
    error = page.locator("#field-np_apparent_power_kva .field-error")
    expect(error).to_contain_text("cannot be below the active power rating (10 kW)")
    expect(page.locator("#form-errors")).to_contain_text("Nothing was saved")
    shot(page, "enroll-field-error")
    assert not DER.objects.exists()

    page.fill("#id_np_apparent_power_kva", "11")
    page.click("#save")
    expect(page.locator("#der-status")).to_have_text("pending")
    page.click("button[data-verb=approve]")
    expect(page.locator("#der-status")).to_have_text("approved")
    expect(page.locator("#lifecycle")).to_contain_text("pending → approved")
    shot(page, "der-detail-approved")
    assert DER.objects.get().status == "approved"


def test_it_shows_an_operator_no_enroll_control_and_the_api_refuses(
    live_server: Any, operator: User, ieee13: Any, page: Page
) -> None:
    sign_in(page, live_server.url, "op1")
    expect(page.locator("#enroll-link")).to_have_count(0)
    shot(page, "registry-operator")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/api/ders/",
        data={"name": "x"},
        headers={"X-CSRFToken": token, "Referer": live_server.url},
    )
    assert response.status == 403
    assert "permission" in response.json()["detail"]
    assert page.request.get(f"{live_server.url}/ders/enroll/").status == 403
