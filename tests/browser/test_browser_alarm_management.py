"""An operator at the alarm list (issue #14 acceptance): acknowledges with a comment, shelves an
alarm for 10 minutes and sees it come back by itself when the shelf ends — no reload. The shelf's
end is brought forward in the database (nobody waits ten minutes in a test); the page's own timer
and a live event do the rest. The page's WebSocket is the test's (the test server speaks HTTP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.alarms.actions import do_raise_alarm
from apps.alarms.models import Alarm, AlarmShelf
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_acknowledges_with_a_comment_and_a_shelved_alarm_returns_when_its_shelf_ends(
    live_server: Any, operator: User, page: Page
) -> None:
    link, _ = do_raise_alarm(
        None, "system", kind="ems_link_down", source_type="dso", source_id="5",
        source_label="DSO ieee123 at bus 5", message="no answer from the DSO's DMS",
    )  # fmt: skip
    noisy, _ = do_raise_alarm(
        None, "system", kind="comm_failure", source_type="der", source_id="7", source_label="pv-7",
        message="pv-7 (DNP3) does not answer",
    )  # fmt: skip
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/alarms/")
    row = page.locator(f"#alarm-{link.pk}")
    expect(row).to_contain_text("▲ High")  # shape and word, not colour alone
    expect(row).to_contain_text("Unacknowledged, active")

    row.locator(".ack-form input[name=comment]").fill("called the DSO control room")
    row.locator("button:has-text('Acknowledge')").click()
    expect(page.locator(".messages")).to_contain_text(f"Alarm {link.pk} acknowledged")
    expect(row).to_contain_text("Acknowledged, active")
    expect(row).to_contain_text("“called the DSO control room”")

    other = page.locator(f"#alarm-{noisy.pk}")
    other.locator("summary:has-text('Shelve')").click()
    other.locator("select[name=minutes]").select_option("10")
    other.locator("details.shelf input[name=comment]").fill("radio mast repair")
    other.locator("button:has-text('Shelve')").click()
    expect(page.locator(".messages")).to_contain_text(f"Alarm {noisy.pk} shelved until")
    expect(page.locator(f"#alarm-{noisy.pk}")).to_have_count(0)  # off the operator's list
    shot(page, "alarms-acknowledged-and-shelved")
    page.evaluate("window.notReloaded = true")

    AlarmShelf.objects.filter(source_id="7").update(until=timezone.now() + dt.timedelta(seconds=3))
    event = {"id": noisy.pk, "priority": "low", "source": "der:7", "message": "shelf moved"}
    push(page, "alarms", "alarm.shelved", event)
    expect(page.locator(f"#alarm-{noisy.pk}")).to_contain_text("Unacknowledged, active", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    assert Alarm.objects.get(pk=noisy.pk).acknowledged_at is None
    shot(page, "alarms-shelf-ended")
