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
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.simulator import FieldSim, SimDER
from apps.dms.gateway import Dnp3Gateway, GatewayOptions
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in
from tests.conftest import dnp3
from tests.integration.dnp3_support import ports, until
from tests.integration.test_it_dnp3_alarms import LIMITS

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
    page.click("a:has-text('Performance')")
    expect(page.locator("#perf-total .n")).to_have_text("2")
    expect(page.locator("#perf-top tbody tr")).to_have_count(2)
    shot(page, "alarms-performance")


def test_a_segment_outage_shows_the_operator_one_alarm_not_one_per_der(
    live_server: Any, operator: User, enrolled: Any, page: Page
) -> None:
    first = ports(3)
    for i in range(3):
        where = dnp3(10, "127.0.0.1", dnp3_port=first + i)
        enrolled("active", name=f"pv-seg-{i}", serial_number=f"SN-B{i}", **where)
    sim = FieldSim([SimDER(first + i, 10, LIMITS, available_kw=8.0) for i in range(3)])
    sim.start(update_s=0.5)
    master = MasterOptions(response_timeout_s=1.0, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=0.5)
    gateway = Dnp3Gateway(GatewayOptions(timeout_s=2.0, record_every_s=1.0, master=master))
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/alarms/")
    try:
        gateway.load()
        assert until(lambda: all(w.last_answer_s for w in gateway.watches.values()), gateway.step)
        for i in range(3):
            sim.stop_port(first + i)
        assert until(lambda: Alarm.objects.filter(kind="comm_failure").count() == 3, gateway.step)
    finally:
        gateway.close()
        sim.stop()
    segment = Alarm.objects.get(kind="segment_down")
    event = {"id": segment.pk, "priority": "high", "source": "segment", "message": segment.message}
    push(page, "alarms", "alarm.raised", event)
    rows = page.locator("#alarm-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Field segment down")
    expect(rows).to_contain_text("All 3 DNP3 DERs at 127.0.0.1 have stopped answering")
    expect(page.locator("#active-count")).to_contain_text("3 suppressed")
    shot(page, "alarms-segment-down")
    page.click("a:has-text('History')")
    suppressed = page.locator("#alarm-table tbody tr", has_text="suppressed: DNP3 DERs at 127.0.0.1")
    expect(suppressed).to_have_count(3)
