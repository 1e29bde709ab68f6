"""Live events on the alarm and dispatch pages, with the page's WebSocket replaced by one the test
feeds (the test server speaks plain HTTP): the alarm list redraws itself (or, while the operator
types, says it is out of date) and a critical alarm sounds until muted, a run's status
follows its events, a finished run's page shows the result, and a dispatch's burst of set points is
one line, not a toast per DER."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from apps.alarms.actions import do_raise_alarm
from apps.dms.models import DispatchRun
from tests.browser.conftest import shot
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Stands in for the browser's WebSocket: the page's live.js connects to it, the test calls push().
FAKE_SOCKET = """
window.WebSocket = class {
  constructor(url) { window.liveUrl = url; window.liveSocket = this; setTimeout(() => this.onopen(), 0); }
  send() {}
  close() {}
};
window.push = (msg) => window.liveSocket.onmessage({ data: JSON.stringify(msg) });
"""


def push(page: Page, topic: str, event: str, payload: dict[str, Any]) -> None:
    page.evaluate(f"window.push({json.dumps({'topic': topic, 'event': event, 'payload': payload})})")


def test_it_follows_alarms_and_dispatch_runs_live(
    live_server: Any, ieee13: Any, operator: User, page: Page
) -> None:
    do_raise_alarm(
        None, "system", kind="violation", source_type="feeder", source_id="ieee13", message="V 1.07 pu"
    )
    queued = DispatchRun.objects.create(feeder=ieee13, trigger="manual", q_requested_kvar=50.0, v_sub_pu=1.0)
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")

    page.goto(f"{live_server.url}/alarms/")
    expect(page.locator("#live-status")).to_contain_text("LIVE")
    assert "alarms" in page.evaluate("window.liveUrl") and "cycle" in page.evaluate("window.liveUrl")
    expect(page.locator("#alarms-changed")).to_be_hidden()
    expect(page.locator("#alarm-table tbody tr")).to_have_count(1)
    raised, _ = do_raise_alarm(
        None, "system", kind="cycle_failed", source_type="cycle", source_id="7", message="the EMS half failed"
    )
    alarm = {"id": raised.pk, "priority": "critical", "source": "cycle:7", "label": "", "message": "silent"}
    push(page, "alarms", "alarm.raised", alarm)
    expect(page.locator(f"#alarm-{raised.pk}")).to_contain_text("◆ Critical")  # redrawn, no reload
    expect(page.locator("#alarms-changed")).to_be_hidden()
    expect(page.locator("#toasts .toast")).to_have_text(["Alarm (critical): cycle:7 — silent"])
    assert page.evaluate("window.alarmChimes") == 1  # the critical alarm's sound
    page.click("#alarm-sound")
    expect(page.locator("#alarm-sound")).to_have_text("Critical alarm sound: muted")
    page.fill(f"#alarm-{raised.pk} .ack-form input[name=comment]", "looking")  # typing: the list waits
    push(page, "alarms", "alarm.raised", alarm)
    expect(page.locator("#alarms-changed")).to_be_visible()
    assert page.evaluate("window.alarmChimes") == 1  # muted
    expect(page.locator(f"#alarm-{raised.pk} .ack-form input[name=comment]")).to_have_value("looking")
    expect(page.locator("#toasts .toast")).to_have_count(0, timeout=10_000)  # toasts fade after 6 s
    for k in range(5):
        push(page, "registry", "der.setpoint", {"id": k, "name": f"pv-{k}", "status": "active"})
    expect(page.locator("#toasts .toast")).to_have_count(1)
    expect(page.locator("#toasts .toast")).to_have_text("5 set point updates, the last for pv-4")
    shot(page, "alarms-live")

    page.goto(f"{live_server.url}/feeders/ieee13/dispatch/")
    status = page.locator(f"#run-{queued.pk} [data-run-status]")
    expect(status).to_have_text("Queued")
    push(page, "cycle", "dispatch.run", {"id": queued.pk, "feeder": "ieee13", "status": "running"})
    expect(status).to_have_text("Running")
    push(page, "cycle", "dispatch.run", {"id": queued.pk, "feeder": "other", "status": "done"})
    expect(status).to_have_text("Running")  # another feeder's run changes nothing here

    page.goto(f"{live_server.url}/feeders/ieee13/dispatch/{queued.pk}/")
    expect(page.locator("#run-pending")).to_be_visible()
    DispatchRun.objects.filter(pk=queued.pk).update(status="done", q_achieved_kvar=49.0)
    with page.expect_navigation():
        push(page, "cycle", "dispatch.run", {"id": queued.pk, "feeder": "ieee13", "status": "done"})
    expect(page.locator("#q-achieved")).to_have_text("49.0")
    expect(page.locator("#run-pending")).to_have_count(0)
