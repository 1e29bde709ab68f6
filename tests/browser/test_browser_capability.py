"""A planner reads a finished capability study: the flexibility region draws, the RPFR table fills."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import Page, expect

from apps.capability import actions
from celery_tasks.capability import run_study
from tests.browser.conftest import shot
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_study(ieee13: Any, planner: User) -> Any:
    call_command("add_pv", "ieee13", "--count", "30", "--seed", "2", stdout=io.StringIO())
    study = actions.do_start_study(planner, "web", "ieee13", headroom="0:1:0.1")
    assert run_study(study.pk) == "done"  # run here; the queued copy will find it done and skip it
    return study


def test_it_shows_the_flexibility_region_to_a_planner(
    live_server: Any, planner: User, finished_study: Any, page: Page
) -> None:
    sign_in(page, live_server.url, "plan1")
    page.goto(f"{live_server.url}/feeders/ieee13/")
    page.click("#capability-link")
    expect(page.locator("#studies")).to_contain_text("done")
    page.click(f"#studies a[href='/capability/{finished_study.pk}/']")
    expect(page.locator("#plot-region .main-svg").first).to_be_visible()
    expect(page.locator("#rpfr tbody tr")).to_have_count(11)
    shot(page, "capability-study")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_it_downloads_the_chart_as_a_png(
    live_server: Any, planner: User, finished_study: Any, page: Page
) -> None:
    """Plotly's camera button draws the chart into a canvas through a blob: image, then saves it."""
    messages: list[str] = []
    page.on("console", lambda msg: messages.append(msg.text))
    sign_in(page, live_server.url, "plan1")
    page.goto(f"{live_server.url}/capability/{finished_study.pk}/")
    page.hover("#plot-region .main-svg")
    with page.expect_download() as download_info:
        page.click("#plot-region .modebar-btn[data-title='Download plot as a PNG']")
    download = download_info.value
    assert download.suggested_filename.endswith(".png")
    data = Path(download.path()).read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000  # the drawn chart, not an empty canvas
    assert not [m for m in messages if "Content Security Policy" in m]
