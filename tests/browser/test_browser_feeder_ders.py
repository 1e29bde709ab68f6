"""An admin enrols a PV system of a feeder's OpenDSS file from the feeder page, in a real browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from apps.dms.actions import do_import_feeder
from tests.browser.conftest import shot
from tests.browser.test_browser_registry import sign_in
from tests.conftest import FILE_DERS_DSS, LFDI

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_enrols_a_pv_system_of_the_file(
    live_server: Any, admin_user: User, tmp_path: Path, page: Page
) -> None:
    (tmp_path / "small.dss").write_text(FILE_DERS_DSS)
    do_import_feeder(None, "test", tmp_path / "small.dss", "small")
    sign_in(page, live_server.url, "adm1")
    page.goto(f"{live_server.url}/feeders/small/")
    section = page.locator("#file-ders")
    expect(section).to_contain_text("DERs in the feeder file")
    expect(section.locator("tbody tr")).to_have_count(3)
    section.get_by_role("row", name="PVSystem pv1").get_by_role("link", name="Enroll").click()
    expect(page.locator("#element-intro")).to_contain_text("Category B")
    expect(page.locator("#id_np_apparent_power_kva")).to_have_value("60.0")
    expect(page.locator("#id_bus")).to_be_disabled()
    page.fill("#id_serial_number", "INV-0042")
    page.select_option("#id_ownership", "customer")
    page.select_option("#id_comm_path", "sep2_direct")
    page.fill("#id_lfdi", LFDI)
    shot(page, "feeder-der-enrol-form")
    page.click("#save")
    expect(page.locator("#file-ders")).to_contain_text("enrolled as pvsystem-pv1 pending")
    shot(page, "feeder-ders")
