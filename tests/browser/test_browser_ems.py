"""An operator studies seed 004's contingency: the one-line diagram draws, the N-1 screening and the
volt/var OPF's EMS→DMS messages fill in."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.conftest import shot
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_the_one_line_diagram_n1_list_and_opf_dispatch(
    live_server: Any, operator: User, page: Page
) -> None:
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/ems/whatif/")
    page.click("#seed-scenario")
    expect(page.locator("#plot-ems-oneline .main-svg").first).to_be_visible()
    expect(page.locator("#plot-ems-opf .main-svg").first).to_be_visible()
    expect(page.locator("#ems-n1 tbody tr")).to_have_count(9)
    expect(page.locator("#ems-opf-dsos tbody tr")).to_have_count(3)
    expect(page.locator("#ems-opf-dsos tbody tr").first).to_contain_text("22")
    expect(page.locator("#ems-opf-buses tbody tr.bad")).to_have_count(0)  # every bus back within limits
    shot(page, "ems-whatif-opf")
    page.fill("#dsos", "5x3:200:100")
    page.click("#whatif-form button[type=submit]")
    expect(page.locator(".errorbox")).to_contain_text("q_min (200 kvar) is above its q_max (100 kvar)")
