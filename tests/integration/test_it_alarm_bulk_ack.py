"""Acknowledging every alarm a page shows at once, and the nav's alarm badge on every page."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client, RequestFactory

from apps.alarms.actions import (
    AlarmError,
    do_acknowledge_alarm,
    do_acknowledge_alarms,
    do_clear_alarm,
    do_raise_alarm,
)
from apps.alarms.counts import alarm_counts
from apps.alarms.models import Alarm
from crest_web.accounts.models import AuditRecord
from crest_web.context_processors import alarm_badge
from crest_web.events import group_name
from tests.conftest import client_for


def _raise(i: int) -> Alarm:
    alarm, _ = do_raise_alarm(
        None,
        "system",
        kind="comm_failure",
        source_type="der",
        source_id=str(i),
        source_label=f"pv-{i}",
        message=f"pv-{i} is silent",
    )
    return alarm


def _acks() -> int:
    return AuditRecord.objects.filter(action="alarm.acknowledge").count()


def test_it_acknowledges_exactly_the_alarms_the_page_showed(operator_client: Client, operator: User) -> None:
    shown = [_raise(i) for i in range(8)]
    seen = _raise(100)
    do_acknowledge_alarm(operator, "web", seen.pk)
    do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id="7")  # cleared, unseen
    page = operator_client.get("/alarms/")
    assert sorted(page.context["unacked_shown"]) == sorted(a.pk for a in shown)
    html = page.content.decode()
    assert "Acknowledge all shown (8)…" in html
    assert "Acknowledge the 8 unacknowledged alarms shown on this page?" in html
    later = _raise(200)  # raised after the operator looked: not part of what they confirmed
    before = _acks()
    ids = [str(pk) for pk in page.context["unacked_shown"]]
    response = operator_client.post("/alarms/acknowledge-all/", {"id": ids, "show": "active"})
    assert response["Location"] == "/alarms/?show=active"
    assert "8 alarms acknowledged." in operator_client.get(response["Location"]).content.decode()
    assert Alarm.objects.filter(pk__in=ids, acknowledged_by=operator).count() == 8
    records = AuditRecord.objects.filter(action="alarm.acknowledge").order_by("-id")[:8]
    assert _acks() - before == 8
    assert sorted(r.object_id for r in records) == sorted(ids)
    assert all(r.actor == operator and r.source == "web" for r in records)
    later.refresh_from_db()
    assert later.acknowledged_at is None
    assert "Acknowledge all shown (1)…" in operator_client.get("/alarms/").content.decode()


def test_it_skips_alarms_a_colleague_acknowledged_meanwhile(operator: User, admin_user: User) -> None:
    a, b = _raise(1), _raise(2)
    do_acknowledge_alarm(admin_user, "web", b.pk)
    done, already = do_acknowledge_alarms(operator, "web", [a.pk, b.pk])
    assert [x.pk for x in done] == [a.pk]
    assert already == 1
    b.refresh_from_db()
    assert b.acknowledged_by == admin_user
    page = client_for(operator).post("/alarms/acknowledge-all/", {"id": [a.pk, b.pk]}, follow=True)
    assert "0 alarms acknowledged. 2 had already been acknowledged by someone else." in page.content.decode()


def test_it_acknowledges_none_when_the_list_is_bad(operator_client: Client, operator: User) -> None:
    a = _raise(1)
    missing = a.pk + 1000
    with pytest.raises(AlarmError, match=f"There is no alarm {missing}; nothing was acknowledged."):
        do_acknowledge_alarms(operator, "web", [a.pk, missing])
    with pytest.raises(AlarmError, match="signed-in person"):
        do_acknowledge_alarms(AnonymousUser(), "web", [a.pk])
    for data, said in (
        ({"id": [a.pk, missing]}, f"There is no alarm {missing}; nothing was acknowledged."),
        ({"id": [str(a.pk), "7; drop"]}, "Nothing was acknowledged: the list of alarms sent was empty"),
        ({}, "Nothing was acknowledged: the list of alarms sent was empty"),
    ):
        page = operator_client.post("/alarms/acknowledge-all/", data, follow=True)
        assert said in page.content.decode()
    a.refresh_from_db()
    assert a.acknowledged_at is None
    assert _acks() == 0


def test_it_keeps_bulk_acknowledge_from_planners_gets_and_forged_posts(planner: User, operator: User) -> None:
    a = _raise(1)
    planner_client = client_for(planner)
    assert "Acknowledge all shown" not in planner_client.get("/alarms/").content.decode()
    assert planner_client.post("/alarms/acknowledge-all/", {"id": [a.pk]}).status_code == 403
    assert client_for(operator).get("/alarms/acknowledge-all/").status_code == 405
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(operator)
    assert forged.post("/alarms/acknowledge-all/", {"id": [a.pk]}).status_code == 403
    a.refresh_from_db()
    assert a.acknowledged_at is None


def test_it_shows_the_alarm_badge_on_every_page(operator: User, planner: User, outsider: User) -> None:
    a, b = _raise(1), _raise(2)
    client = client_for(operator)
    html = client.get("/ders/").content.decode()
    assert 'id="nav-alarms" class="badge bad"' in html
    assert ">(2)</span>" in html
    do_acknowledge_alarms(operator, "web", [a.pk, b.pk])
    assert 'id="nav-alarms" class="badge warn"' in client_for(planner).get("/feeders/").content.decode()
    for alarm in (a, b):
        do_clear_alarm(None, "system", kind="comm_failure", source_type="der", source_id=alarm.source_id)
    html = client.get("/").content.decode()
    assert 'id="nav-alarms" class="badge ok"' in html
    assert ">(0)</span>" in html
    assert "nav-alarms" not in client_for(outsider).get("/").content.decode()


def test_it_counts_alarms_in_one_query_and_none_for_anonymous_visitors(
    operator: User, django_assert_num_queries: object
) -> None:
    _raise(1)
    do_acknowledge_alarms(operator, "web", [_raise(2).pk])
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):  # type: ignore[operator]
        assert alarm_badge(request) == {}
    with django_assert_num_queries(1):  # type: ignore[operator]
        assert alarm_counts() == {"active": 2, "listed": 2, "unacked": 1, "shelved": 0, "suppressed": 0}


async def _drain(layer: Any, channel: str) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(layer.receive(channel), 2))
        except TimeoutError:
            return out


def test_it_sends_the_badge_counts_with_each_alarm_event(
    operator: User, django_capture_on_commit_callbacks: Any
) -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_name("alarms"), channel)
    with django_capture_on_commit_callbacks(execute=True):
        a, b = _raise(1), _raise(2)
    with django_capture_on_commit_callbacks(execute=True):
        do_acknowledge_alarms(operator, "web", [a.pk, b.pk])
    events = async_to_sync(_drain)(layer, channel)
    async_to_sync(layer.group_discard)(group_name("alarms"), channel)
    assert [(m["event"], m["payload"]["counts"]) for m in events] == [
        ("alarm.raised", {"active": 1, "listed": 1, "unacked": 1, "shelved": 0, "suppressed": 0}),
        ("alarm.raised", {"active": 2, "listed": 2, "unacked": 2, "shelved": 0, "suppressed": 0}),
        ("alarm.acknowledged", {"active": 2, "listed": 2, "unacked": 1, "shelved": 0, "suppressed": 0}),
        ("alarm.acknowledged", {"active": 2, "listed": 2, "unacked": 0, "shelved": 0, "suppressed": 0}),
    ]
