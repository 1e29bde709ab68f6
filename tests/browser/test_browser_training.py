"""A trainer starts a scenario from the panel and the operator's timeline shows its marker live
(issue #13 acceptance), and the trainer's own list follows the plant's answer and the clock. The
operator's page has the test's WebSocket (the test server speaks plain
HTTP): the test delivers the event the trainer's action published; the marker comes from the
server's own record."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from apps.training.actions import do_record_plant_answer
from apps.training.models import Scenario
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_a_trainers_scenario_on_the_operators_timeline_live(
    live_server: Any, ieee13: Any, admin_user: User, operator: User, browser: Browser, page: Page
) -> None:
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/cycles/")
    expect(page.locator(".scenario-marker")).to_have_count(0)

    trainer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(trainer, live_server.url, "adm1")
    trainer.click("nav >> text=Trainer")
    trainer.select_option("#kind", "cloud")
    trainer.check("input[name=feeders][value=ieee13]")
    trainer.fill("#factor", "0.3")
    trainer.fill("#duration_min", "-5")
    trainer.click("button:has-text('Start scenario')")
    expect(trainer.locator(".messages")).to_contain_text("Nothing was started: The duration must be between")
    assert not Scenario.objects.exists()
    trainer.fill("#duration_min", "15")
    trainer.click("button:has-text('Start scenario')")
    expect(trainer.locator("main")).to_contain_text("is on its way to the plant")
    scenario = Scenario.objects.get()
    expect(trainer.locator(f"#scenario-{scenario.pk}")).to_contain_text("Cloud passage on ieee13 × 0.3")
    shot(trainer, "trainer-panel")

    push(
        page,
        "cycle",
        "cycle.scenario",
        {"id": scenario.pk, "label": scenario.label(), "status": scenario.status},
    )
    marker = page.locator(f".scenario-marker[data-scenario='{scenario.pk}']")
    expect(marker).to_contain_text("Cloud passage on ieee13 × 0.3")
    expect(marker).to_contain_text("⚑ Scenario")  # shape and words, not colour alone
    shot(page, "timeline-scenario-marker")


def test_the_trainers_list_follows_what_the_plant_said_and_the_clock_without_a_reload(
    live_server: Any, ieee13: Any, admin_user: User, page: Page
) -> None:
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "adm1")
    page.goto(f"{live_server.url}/training/")
    page.select_option("#kind", "load_step")
    page.check("input[name=feeders][value=ieee13]")
    page.fill("#duration_min", "0.1")  # six seconds
    page.click("button:has-text('Start scenario')")
    scenario = Scenario.objects.get()
    row = page.locator(f"#scenario-{scenario.pk}")
    expect(row).to_contain_text("▶ Active")
    expect(row).to_contain_text("Being sent to the plant")
    page.evaluate("window.notReloaded = true")

    do_record_plant_answer(scenario.pk, "running", "taken at step 12")  # the delivery task's record
    push(page, "cycle", "cycle.scenario", {"id": scenario.pk, "label": scenario.label(), "status": "running"})
    expect(row).to_contain_text("Taken by the plant")
    expect(row).to_contain_text("taken at step 12")
    shot(page, "trainer-scenario-running")

    expect(row).to_contain_text("Over", timeout=15_000)  # its end passed: no event, the clock
    expect(row.locator("button")).to_have_count(0)  # nothing left to end
    assert page.evaluate("window.notReloaded") is True
