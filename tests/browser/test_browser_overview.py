"""The operator's overview follows the cycle live (issue #14 acceptance): a new cycle and its stage
appear, a DSO goes into fallback and comes back — no reload. The page's WebSocket is the test's
(the test server speaks HTTP): the test delivers the events the actions publish; what the page
shows comes from the server's records. Checked on a control-room display and a laptop."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.cycle.models import Cycle, StageRun
from apps.ems.models import DsoEndpoint
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in
from tests.integration.test_it_overview import message, opf_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_overview_follows_a_cycle_and_a_dso_into_fallback_and_back(
    live_server: Any, ieee13: Any, operator: User, page: Page
) -> None:
    now = timezone.now().replace(microsecond=0)
    DsoEndpoint.objects.create(bus=5, name="ieee13", host="127.0.0.1", port=20500, feeder_count=1)
    answered = {"answered_at": now, "dms_healthy": True, "q_achieved_kvar": 200.0}
    message(opf_run(now), 5, dms_q_shortfall_kvar=0.0, **answered)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/")
    tile = page.locator("#dso-5")
    expect(tile).to_contain_text("● Full flexibility")
    expect(page.locator("#overview-now")).to_contain_text("No cycle has run yet")
    page.evaluate("window.notReloaded = true")

    cycle = Cycle.objects.create(interval_start=now, interval_s=300, trigger="beat")
    StageRun.objects.create(cycle=cycle, stage="collect", started_at=now, budget_s=15.0)
    push(page, "cycle", "cycle.started", {"id": cycle.pk, "status": "running"})
    expect(page.locator("#now-stage")).to_contain_text("Collect measurements")
    expect(page.locator("ol.strip .cell-running")).to_have_count(1)

    where = {"kind": "fallback", "source_type": "feeder", "source_id": "ieee13"}
    event = {"id": 1, "priority": "high", "source": "feeder:ieee13", "message": "no request"}
    do_raise_alarm(None, "ems", message="no request", **where)
    push(page, "alarms", "alarm.raised", event)
    expect(tile).to_contain_text("▲ Constrained")
    expect(tile).to_contain_text("In fallback.")
    expect(tile).to_contain_text("Fallback active: no request")
    shot(page, "overview-fallback-1920")
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, "overview-fallback-1280")

    do_clear_alarm(None, "ems", note="request back", **where)
    push(page, "alarms", "alarm.cleared", event)
    expect(tile).to_contain_text("● Full flexibility")
    assert page.evaluate("window.notReloaded") is True

    page.keyboard.press("Tab")  # keyboard users skip the navigation first
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
