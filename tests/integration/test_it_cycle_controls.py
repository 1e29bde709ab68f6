"""What admins and operators do to the cycle by hand (issue #12 item 6): an admin sets the interval
(5, 10 or 15 minutes) and beat's next tick follows it, without a restart; an admin pauses and
resumes automatic cycles; an operator runs a cycle now. Each is audited. Bad input — an interval
not offered, "run now" while a cycle runs or after this interval's cycle, a role without the right
— is refused in words and changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.cycle import actions
from apps.cycle.models import Cycle, CycleControl
from celery_tasks.cycle import tick
from crest_web.accounts.models import AuditRecord
from tests.conftest import client_for

pytestmark = pytest.mark.django_db  # nothing here needs a worker: queued tasks are not sent


def said(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


def test_it_follows_the_interval_an_admin_sets(admin_user: User) -> None:
    client = client_for(admin_user)
    page = client.post("/cycles/interval/", {"interval_s": "600"}, follow=True)
    assert "Cycles now run every 10 minutes" in said(page)[0]
    assert CycleControl.objects.get().interval_s == 600.0
    record = AuditRecord.objects.get(action="cycle.interval")
    assert record.before == {"interval_s": 300.0, "paused": False} and record.after["interval_s"] == 600.0
    opened = tick()  # beat's next tick, in this process: no restart
    assert opened is not None and Cycle.objects.get(pk=opened).interval_s == 600.0
    assert Cycle.objects.get(pk=opened).interval_start.timestamp() % 600 == 0
    assert "10 minutes" in client.get("/cycles/").content.decode()


def test_it_refuses_an_interval_not_offered_and_changes_nothing(admin_user: User) -> None:
    client = client_for(admin_user)
    for bad in ["420", "0", "-300", "abc", "", "nan", "1e9"]:
        page = client.post("/cycles/interval/", {"interval_s": bad}, follow=True)
        assert page.status_code == 200
        (message,) = said(page)
        assert message.startswith("The interval was not changed:") and "5, 10, 15 minutes" in message, bad
    assert not CycleControl.objects.exists() and not AuditRecord.objects.filter(action="cycle.interval")


def test_it_pauses_and_resumes_automatic_cycles(admin_user: User) -> None:
    client = client_for(admin_user)
    assert (
        "Automatic cycles are paused" in said(client.post("/cycles/pause/", {"paused": "1"}, follow=True))[0]
    )
    assert tick() is None and not Cycle.objects.exists()  # paused: no cycle opens
    again = client.post("/cycles/pause/", {"paused": "1"}, follow=True)
    assert said(again) == ["Automatic cycles are paused already."]
    assert "no cycle starts until an admin resumes them" in again.content.decode()
    assert "started by hand" in said(client.post("/cycles/run-now/", follow=True))[0]  # paused: by hand
    Cycle.objects.update(status="done", ended_at=timezone.now())
    refused = said(client.post("/cycles/run-now/", follow=True))[0]
    assert "you can run one from" in refused and "(automatic cycles are paused)" in refused
    Cycle.objects.all().delete()
    assert "resumed" in said(client.post("/cycles/pause/", {"paused": "0"}, follow=True))[0]
    assert tick() is not None
    actions_done = list(
        AuditRecord.objects.filter(action__in=["cycle.pause", "cycle.resume"]).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions_done) == ["cycle.pause", "cycle.resume"]


def test_it_runs_a_cycle_now_for_an_operator_once_per_interval(operator: User) -> None:
    client = client_for(operator)
    page = client.post("/cycles/run-now/", follow=True)
    assert "started by hand" in said(page)[0]
    cycle = Cycle.objects.get()
    assert cycle.trigger == "manual" and cycle.requested_by == operator and cycle.status == "running"

    busy = client.post("/cycles/run-now/", follow=True)
    assert said(busy)[0].startswith("No cycle was started: The cycle of") and "still running" in said(busy)[0]
    Cycle.objects.filter(pk=cycle.pk).update(status="done", ended_at=timezone.now())
    late = client.post("/cycles/run-now/", follow=True)
    assert "This interval had its cycle already (done, run now)" in said(late)[0]
    assert Cycle.objects.count() == 1


def test_it_lets_only_the_right_roles_touch_the_cycle(
    operator: User, planner: User, outsider: User, admin_user: User
) -> None:
    for user, url, data in [
        (operator, "/cycles/interval/", {"interval_s": "600"}),
        (operator, "/cycles/pause/", {"paused": "1"}),
        (planner, "/cycles/run-now/", {}),
        (planner, "/cycles/interval/", {"interval_s": "600"}),
        (outsider, "/cycles/run-now/", {}),
    ]:
        assert client_for(user).post(url, data).status_code == 403, (user, url)
    assert Client().post("/cycles/run-now/").status_code == 302  # to sign-in
    assert client_for(operator).get("/cycles/run-now/").status_code == 405
    assert not Cycle.objects.exists() and not CycleControl.objects.exists()
    page = client_for(planner).get("/cycles/").content.decode()
    assert "Run cycle now" not in page and "Set interval" not in page
    assert "Run cycle now" in client_for(operator).get("/cycles/").content.decode()
    assert "Set interval" in client_for(admin_user).get("/cycles/").content.decode()
    assert actions.control().interval_s == 300.0
