"""The operator acknowledges every shown alarm after one confirmation, and the nav's alarm badge
follows live alarm events on any page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from apps.alarms.actions import do_raise_alarm
from apps.alarms.models import Alarm
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_acknowledges_all_shown_and_keeps_the_badge_current(
    live_server: Any, operator: User, page: Page
) -> None:
    for i in range(3):
        do_raise_alarm(
            None, "system", kind="comm_failure", source_type="der", source_id=str(i), message="silent"
        )
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    badge = page.locator("#nav-alarms")
    expect(badge).to_have_text("(3)")
    expect(badge).to_have_class("badge bad")

    page.goto(f"{live_server.url}/alarms/")
    page.click("#ack-all summary")
    expect(page.locator("#ack-all .confirmbox")).to_contain_text("Acknowledge the 3 unacknowledged alarms")
    shot(page, "alarms-ack-all")
    page.click("#ack-all-confirm")
    expect(page.locator(".messages")).to_contain_text("3 alarms acknowledged.")
    expect(badge).to_have_class("badge warn")
    expect(page.locator("#ack-all")).to_have_count(0)
    assert Alarm.objects.filter(acknowledged_by=operator).count() == 3

    page.goto(f"{live_server.url}/feeders/")
    expect(page.locator("#live-status")).to_contain_text("LIVE")
    alarm = {"id": 9, "priority": "medium", "source": "der:9", "label": "pv-9", "message": "silent"}
    counts = {"active": 4, "listed": 2, "unacked": 1}  # two of the four shelved or suppressed
    push(page, "alarms", "alarm.raised", {**alarm, "counts": counts})
    expect(badge).to_have_text("(2)")
    expect(badge).to_have_class("badge bad")
    push(page, "alarms", "alarm.cleared", {**alarm, "counts": {"active": 0, "listed": 0, "unacked": 0}})
    expect(badge).to_have_text("(0)")
    expect(badge).to_have_class("badge ok")
