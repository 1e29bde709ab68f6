"""A group's page follows its controls live: as member devices answer, the counts and the list of
members that have not answered change without a reload (seen before: the page stayed as it was
loaded; an operator watching a disconnect reach a microgrid had to keep reloading). The page's
WebSocket is the one the test feeds, as in test_browser_live.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from apps.der_registry.actions import do_issue_group_control, do_record_group_response
from apps.der_registry.models import DERGroup
from tests.browser.conftest import shot
from tests.browser.test_browser_live import FAKE_SOCKET, push
from tests.browser.test_browser_registry import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_counts_the_answers_as_devices_give_them(
    live_server: Any, enrolled: Callable[..., Any], operator: User, page: Page
) -> None:
    group = DERGroup.objects.create(name="north", kind="microgrid")
    members = [
        enrolled("active", name=f"pv-n{i}", serial_number=f"SN-N{i}", lfdi=f"AB{i:038X}", sfdi=None)
        for i in range(3)
    ]
    for der in members:
        der.groups.add(group)
    control = do_issue_group_control(None, "system", "north", {"connect": False, "duration_s": 600})
    page.add_init_script(FAKE_SOCKET)
    sign_in(page, live_server.url, "op1")
    page.goto(f"{live_server.url}/ders/groups/{group.pk}/")
    expect(page.locator("#live-status")).to_contain_text("LIVE")
    row = page.locator(f"#group-controls tr[data-control='{control.pk}']")
    expect(row).to_contain_text("0 received · 0 completed of 3")
    expect(page.locator("#not-answered")).to_contain_text("pv-n0, pv-n1, pv-n2")

    now = dt.datetime.now(dt.UTC)
    for der in members[:2]:
        for status in (1, 3):  # received, completed
            do_record_group_response(None, "sep2", der.pk, control.pk, "09", status, now)
            push(page, "registry", "group.response", {"group": "north", "control": control.pk})
    push(page, "registry", "group.response", {"group": "south", "control": 99})  # another group's
    expect(row).to_contain_text("2 received · 2 completed of 3")  # redrawn, no reload
    expect(page.locator("#not-answered")).to_contain_text("(2 of 3 received): pv-n2")
    expect(page.locator("#not-answered")).to_contain_text("pv-n2")
    expect(page.locator("#not-answered")).not_to_contain_text("pv-n0")
    expect(page.locator("#toasts .toast")).to_have_count(0)  # answers are data, not news
    shot(page, "group-live")

    do_record_group_response(None, "sep2", members[2].pk, control.pk, "09", 1, now)
    push(page, "registry", "group.response", {"group": "north", "control": control.pk})
    expect(page.locator("#not-answered")).to_contain_text("All answered")
