"""The feeder page draws its map and voltage profile in a real browser, with no script blocked."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.conftest import shot
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_draws_the_feeder_plots_for_an_operator(
    live_server: Any, operator: User, ieee13: Any, page: Page
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/feeders/ieee13/?engine=lindist3flow")
    expect(page.locator("#plot-profile .main-svg").first).to_be_visible()
    expect(page.locator("#plot-map .main-svg").first).to_be_visible()
    expect(page.locator("#plot-profile")).to_contain_text("ANSI 0.95")
    page.select_option("#engine", "opendss")
    page.click("#engine-form button")
    expect(page).to_have_url(f"{live_server.url}/feeders/ieee13/?engine=opendss")
    expect(page.locator("#plot-profile .main-svg").first).to_be_visible()
    shot(page, "feeder-ieee13")
    # The live-events socket cannot connect to the test's WSGI server; nothing else may fail.
    assert [p for p in problems if "/ws/events/" not in p] == []
