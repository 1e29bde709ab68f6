"""The EMS runs pages in a browser: a run's page reloads to show a DSO's answer — and the DMS's own view
of it — when its `cycle` event arrives (the page's WebSocket replaced by one the test feeds), and the
list says when it is out of date."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from apps.ems.actions import do_record_dso_exchange, do_run_opf
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.dso_exchange import Exchange
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_a_dso_answer_as_it_arrives(live_server: Any, operator: User, page: Page) -> None:
    run = do_run_opf(None, "test", "case9", [DsoInterface(5, 22, -700.0, 700.0)])
    message = run.messages.get()
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")

    page.goto(f"{live_server.url}/ems/runs/")
    expect(page.locator("#live-status")).to_contain_text("LIVE")
    expect(page.locator(f"#ems-run-{run.pk}")).to_contain_text("not sent")
    expect(page.locator("#ems-runs-changed")).to_be_hidden()
    push(page, "cycle", "ems.opf", {"id": run.pk + 1, "case": "case9", "messages": 1})
    expect(page.locator("#ems-runs-changed")).to_be_visible()

    page.click(f"#ems-run-{run.pk} a")
    expect(page.locator("h1")).to_contain_text(f"OPF run {run.pk}")
    expect(page.locator(f"#ems-message-{message.pk}")).to_contain_text("no endpoint")
    answer = Exchange(
        "dso-5",
        1_795_000_000.0,
        "",
        1_795_000_004.0,
        -87.24,
        -600.0,
        410.0,
        True,
        False,
        dms_feeder_count=22,
        dms_q_received_kvar=5000.0,
        dms_q_achieved_kvar=4400.0,
        dms_q_shortfall_kvar=600.0,
        dms_shortfall_cause="voltage limit",
        dms_violations_left=3,
    )
    do_record_dso_exchange(None, "test", message.pk, answer)
    push(page, "cycle", "ems.dso_answer", {"id": message.pk, "run": run.pk})
    row = page.locator(f"#ems-message-{message.pk}")
    expect(row).to_contain_text("-87.2")  # the page reloaded with the answer
    expect(row).to_contain_text("[-600.0, 410.0]")
    expect(row).to_contain_text("healthy")
    expect(row).to_contain_text(
        "DMS received 5,000.0 kvar (22 × 227.3), achieved 4,400.0, short 600.0 (voltage limit)"
    )
    expect(row).to_contain_text("3 voltage violations left")
    shot(page, "ems-run-answered")
