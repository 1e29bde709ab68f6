"""The cycle timeline fills in live as a cycle runs (issue #12 acceptance): the stages a cycle records
appear on the open page, each with its time and budget, without a reload; a late stage is marked by
shape and word as well as colour. The page's WebSocket is the test's (the test server speaks plain
HTTP); the rows come from the server's own records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.cycle import actions
from apps.cycle.engine.schedule import Stage
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_fills_the_timeline_in_live(live_server: Any, operator: User, page: Page) -> None:
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/cycles/")
    expect(page.locator("#no-cycles")).to_be_visible()

    cycle, _ = actions.do_open_cycle(None, "beat", at=timezone.now(), interval_s=300.0, trigger="beat")
    push(page, "cycle", "cycle.opened", {"id": cycle.pk})
    block = page.locator(f"#cycle-{cycle.pk}")
    expect(block).to_contain_text("Running")

    collect, _ = actions.do_start_stage(cycle.pk, Stage.COLLECT)
    actions.do_end_stage(collect.pk, detail="1 DSO interface")
    opf, _ = actions.do_start_stage(cycle.pk, Stage.EMS_OPF)
    actions.do_end_stage(opf.pk, detail="OPF run 1", ended_at=opf.started_at + dt.timedelta(seconds=50))
    push(page, "cycle", "stage.ended", {"cycle": cycle.pk, "stage": "ems_opf"})
    rows = block.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Collect measurements")
    expect(rows.nth(0)).to_contain_text("5 s")  # its budget
    expect(rows.nth(1)).to_contain_text("EMS volt/var OPF")
    expect(rows.nth(1)).to_contain_text("▲ late")  # 50 s against 45 s
    expect(rows.nth(1).locator(".bar")).to_be_visible()

    actions.do_end_cycle(cycle.pk, detail="1 DSO asked, 1 answered")
    push(page, "cycle", "cycle.ended", {"id": cycle.pk, "status": "done"})
    expect(block.locator(".status")).to_have_text("Done")
    shot(page, "cycle-timeline")
    page.click(f"#cycle-{cycle.pk} h2 a")
    expect(page.locator("h1")).to_contain_text(f"Cycle {cycle.pk}")
    expect(page.locator("main")).to_contain_text("No OPF run in this cycle.")
