"""Alarm management to ISA-18.2 (issue #14, item 3): every state transition with its audit trail,
acknowledgement with a comment, shelving (timed within the admin's limit, one-shot until it
clears, re-activations held, expiry by the beat task on a real worker, visible to a fresh process),
chattering, priorities per kind set by an admin, the history's search and CSV export, and the API —
each with the roles that may and may not."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.alarms.actions import (
    AlarmError,
    do_acknowledge_alarm,
    do_clear_alarm,
    do_raise_alarm,
    do_shelve_alarm,
    do_unshelve_alarm,
)
from apps.alarms.counts import alarm_counts
from apps.alarms.models import Alarm, AlarmOutOfService, AlarmPriority, AlarmShelf, ShelvingLimit
from crest_web import task_names
from crest_web.accounts.models import AuditRecord
from crest_web.celery import app
from tests.conftest import as_json, client_for
from tests.integration.dnp3_support import until
from tests.integration.dso_support import _manage

pytestmark = pytest.mark.django_db(transaction=True)


def raise_(source_id: str = "17", kind: str = "comm_failure") -> Alarm:
    alarm, _ = do_raise_alarm(
        None, "system", kind=kind, source_type="der", source_id=source_id, source_label=f"pv-{source_id}",
        message=f"pv-{source_id} (DNP3) does not answer",
    )  # fmt: skip
    return alarm


def clear(source_id: str = "17", kind: str = "comm_failure") -> None:
    do_clear_alarm(None, "system", kind=kind, source_type="der", source_id=source_id)


def trail(alarm: Alarm) -> list[str]:
    records = AuditRecord.objects.filter(object_type="alarms.alarm", object_id=str(alarm.pk)).order_by("pk")
    return list(records.values_list("action", flat=True))


def test_it_walks_an_alarm_through_the_four_states_and_audits_each(operator: User) -> None:
    first = raise_()
    assert first.state == "unack_active" and first.priority == "low"  # comm failures: low by default
    do_acknowledge_alarm(operator, "web", first.pk, "  crew sent to the site  ")
    first.refresh_from_db()
    assert first.state == "ack_active" and first.ack_comment == "crew sent to the site"
    clear()
    first.refresh_from_db()
    assert first.state == "normal"
    ack = AuditRecord.objects.get(action="alarm.acknowledge", object_id=str(first.pk))
    assert ack.after == {
        "acknowledged_at": ack.after["acknowledged_at"],
        "state": "ack_active",
        "comment": "crew sent to the site",
    }
    assert trail(first) == ["alarm.raise", "alarm.acknowledge", "alarm.clear"]

    second = raise_()  # the condition returns: a new alarm; it clears before anyone looks
    clear()
    second.refresh_from_db()
    assert second.state == "unack_rtn"
    do_acknowledge_alarm(operator, "web", second.pk)
    second.refresh_from_db()
    assert second.state == "normal" and second.ack_comment == ""
    with pytest.raises(AlarmError, match="at most 200 characters"):
        do_acknowledge_alarm(operator, "web", raise_("18").pk, "x" * 201)
    assert not Alarm.objects.get(source_id="18").acknowledged_at


def test_it_shelves_within_the_admins_limit_and_holds_reactivations(operator: User, admin_user: User) -> None:
    alarm = raise_()
    ShelvingLimit.objects.create(limit_minutes=60)
    with pytest.raises(AlarmError, match="A timed shelf lasts 1 to 60 minutes"):
        do_shelve_alarm(operator, "web", alarm.pk, 120)
    assert not AlarmShelf.objects.exists()
    shelf = do_shelve_alarm(operator, "web", alarm.pk, 10, "known: radio mast repair")
    assert shelf.until is not None and abs((shelf.until - timezone.now()).total_seconds() - 600) < 5
    # off the operator's badge
    assert alarm_counts() == {"active": 1, "listed": 0, "unacked": 0, "shelved": 1, "suppressed": 0}
    with pytest.raises(AlarmError, match="is shelved already"):
        do_shelve_alarm(operator, "web", alarm.pk, 20)

    clear()
    again = raise_()  # a re-activation of a shelved alarm is shelved too
    assert alarm_counts() == {"active": 1, "listed": 0, "unacked": 0, "shelved": 1, "suppressed": 0}
    page = client_for(operator)
    assert [a.pk for a in page.get("/alarms/").context["page"]] == []
    shelved = page.get("/alarms/?show=shelved").context["page"]
    assert [a.pk for a in shelved] == [again.pk, alarm.pk]  # the cleared one waits there too

    do_unshelve_alarm(operator, "web", again.pk)
    assert alarm_counts() == {"active": 1, "listed": 1, "unacked": 1, "shelved": 0, "suppressed": 0}
    assert trail(alarm) == ["alarm.raise", "alarm.shelve", "alarm.clear"]
    assert trail(again) == ["alarm.raise", "alarm.unshelve"]
    with pytest.raises(AlarmError, match="is not shelved"):
        do_unshelve_alarm(operator, "web", again.pk)


def test_it_ends_a_one_shot_shelf_when_the_alarm_clears(operator: User) -> None:
    alarm = raise_()
    do_shelve_alarm(operator, "web", alarm.pk, None)
    assert alarm_counts()["shelved"] == 1
    clear()
    shelf = AlarmShelf.objects.get()
    assert shelf.ended_at is not None and shelf.end_reason == "the alarm cleared"
    cleared = Alarm.objects.get(pk=alarm.pk)
    with pytest.raises(AlarmError, match="has cleared: a one-shot shelf lasts until an alarm clears"):
        do_shelve_alarm(operator, "web", cleared.pk, None)
    assert [a.pk for a in client_for(operator).get("/alarms/").context["page"]] == [alarm.pk]  # unacked RTN


def test_it_ends_timed_shelves_on_a_real_worker_and_a_fresh_process_sees_the_shelf(
    operator: User, worker: Any
) -> None:
    held, due = raise_("17"), raise_("18")
    for alarm in (held, due):
        do_shelve_alarm(operator, "web", alarm.pk, 10)
    # Another process (as after a restart) reads the shelves from the database.
    assert "'shelved': 2" in manage_shell(
        "from apps.alarms.counts import alarm_counts; print(alarm_counts())"
    )
    AlarmShelf.objects.filter(source_id="18").update(until=timezone.now() - dt.timedelta(seconds=1))
    app.send_task(task_names.ALARMS_EXPIRE_SHELVES)  # what beat sends every 10 s
    assert until(lambda: AlarmShelf.objects.filter(source_id="18", ended_at__isnull=False).exists())
    assert AlarmShelf.objects.get(source_id="18").end_reason == "the shelf expired"
    assert AlarmShelf.objects.get(source_id="17").ended_at is None
    assert trail(due)[-1] == "alarm.unshelve"
    assert alarm_counts() == {"active": 2, "listed": 1, "unacked": 1, "shelved": 1, "suppressed": 0}


def manage_shell(code: str) -> str:
    proc = _manage("shell", "-c", code)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def test_it_flags_the_third_activation_within_a_minute_as_chattering() -> None:
    flags = []
    for _ in range(3):
        flags.append(raise_().chattering)
        clear()
    assert flags == [False, False, True]
    Alarm.objects.update(raised_at=timezone.now() - dt.timedelta(minutes=5))
    assert raise_().chattering is False  # the earlier ones are older than a minute


def test_only_an_admin_sets_priorities_and_the_shelf_limit_and_active_alarms_follow(
    admin_client: Client, operator_client: Client, planner: User
) -> None:
    alarm = raise_()
    form = {f"priority-{k}": v for k, v in (("comm_failure", "high"),)}
    form |= {f"priority-{k}": p for k, p in _defaults().items() if k != "comm_failure"}
    for client in (operator_client, client_for(planner)):
        assert client.post("/alarms/settings/", {**form, "shelf_limit_minutes": "30"}).status_code == 403
    bad = admin_client.post("/alarms/settings/", {**form, "shelf_limit_minutes": "0"})
    assert bad.status_code == 400 and "The shelving limit is 5 to 10080 minutes" in bad.content.decode()
    assert not AlarmPriority.objects.exists() and Alarm.objects.get().priority == "low"  # all or nothing
    done = admin_client.post("/alarms/settings/", {**form, "shelf_limit_minutes": "30"})
    assert done.status_code == 302
    alarm.refresh_from_db()
    assert alarm.priority == "high" and raise_("19").priority == "high"
    assert ShelvingLimit.objects.get().limit_minutes == 30
    record = AuditRecord.objects.get(action="alarm.priority")
    assert record.before == {"priority": "low"} and record.after == {
        "priority": "high",
        "active_alarms_changed": 1,
    }
    assert AuditRecord.objects.filter(action="alarm.shelf_limit").count() == 1


def _defaults() -> dict[str, str]:
    from apps.alarms.engine.isa182 import DEFAULT_PRIORITY

    return DEFAULT_PRIORITY


def test_the_history_finds_and_exports_exactly_what_was_asked(operator_client: Client) -> None:
    for i in range(3):
        raise_(str(20 + i))
    do_raise_alarm(
        None, "system", kind="violation", source_type="feeder", source_id="ieee13", message="V 1.07 pu"
    )
    found = operator_client.get("/alarms/?show=all&kind=comm_failure&q=pv-2")
    assert sorted(a.source_id for a in found.context["page"]) == ["20", "21", "22"]
    assert [a.kind for a in operator_client.get("/alarms/?show=all&priority=critical").context["page"]] == [
        "violation"
    ]
    exported = operator_client.get("/alarms/?show=all&kind=comm_failure&q=pv-2&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:5] == ["id", "raised_at", "priority", "kind", "source"] and len(rows) == 4
    assert {r[4] for r in rows[1:]} == {"pv-20", "pv-21", "pv-22"}


def test_the_api_acknowledges_and_shelves_with_the_pages_permissions(
    operator_client: Client, planner: User, outsider: User
) -> None:
    alarm = raise_()
    url = f"/api/alarms/{alarm.pk}"
    for client in (client_for(planner), client_for(outsider)):
        assert client.post(f"{url}/acknowledge/", {}, content_type="application/json").status_code == 403
        assert (
            client.post(f"{url}/shelve/", {"minutes": 10}, content_type="application/json").status_code == 403
        )
    bad = operator_client.post(f"{url}/shelve/", {"minutes": "soon"}, content_type="application/json")
    assert bad.status_code == 400 and "minutes is a number of minutes" in as_json(bad)["error"]
    assert not AlarmShelf.objects.exists()
    acked = operator_client.post(f"{url}/acknowledge/", {"comment": "on it"}, content_type="application/json")
    assert acked.status_code == 200 and as_json(acked)["state"] == "ack_active"
    assert as_json(acked)["ack_comment"] == "on it"
    shelved = operator_client.post(f"{url}/shelve/", {"minutes": None}, content_type="application/json")
    assert shelved.status_code == 200 and as_json(shelved)["shelved"] is True
    assert as_json(operator_client.get("/api/alarms/?shelved=true"))["results"][0]["id"] == alarm.pk
    back = operator_client.post(f"{url}/unshelve/", content_type="application/json")
    assert back.status_code == 200 and as_json(back)["shelved"] is False
    missing = operator_client.post("/api/alarms/999999/acknowledge/", {}, content_type="application/json")
    assert missing.status_code == 400 and "There is no alarm 999999" in as_json(missing)["error"]


def test_the_performance_page_counts_a_scripted_history_exactly(
    operator: User, planner: User, outsider: User
) -> None:
    """One scripted hour in the database (10-minute windows holding 1, 0, 12, 2, 0, 3 alarms, as
    tests/engine/test_alarm_performance.py counts by hand), read back through the page."""
    start = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    script = [(1, "overrun", "collect")] + [(20 + i * 0.5, "comm_failure", str(i % 4)) for i in range(12)]
    script += [(31, "fallback", "ieee123"), (31.2, "fallback", "ieee123")]
    script += [(55, "violation", "5"), (56, "comm_failure", "0"), (56.5, "comm_failure", "0")]
    for minutes, kind, source in script:
        alarm, _ = do_raise_alarm(None, "system", kind=kind, source_type="x", source_id=source, message="m")
        clear_at = start + dt.timedelta(minutes=minutes)
        Alarm.objects.filter(pk=alarm.pk).update(raised_at=clear_at, cleared_at=clear_at)
    old, _ = do_raise_alarm(
        None, "system", kind="dso_mismatch", source_type="x", source_id="7", message="old"
    )
    Alarm.objects.filter(pk=old.pk).update(raised_at=timezone.now() - dt.timedelta(hours=30))

    page = client_for(planner).get("/alarms/performance/?from=2026-12-01 02:00&to=2026-12-01 03:00")
    assert page.status_code == 200
    p = page.context["p"]
    assert p.per_window == [1, 0, 12, 2, 0, 3] and p.total == 18 and p.flood_windows == 1
    assert [(f.source, f.count) for f in p.top[:2]] == [("x:0", 5), ("x:1", 3)]
    assert round(p.mix_pct["low"], 3) == round(1400 / 18, 3)  # comm failures: low by default
    assert [a.source_id for a in page.context["stale"]] == ["7"]
    assert list(page.context["chattering"]) == []  # the script's raises are minutes apart
    for _ in range(3):  # now, within a minute: the third chatters
        raise_("chat")
        clear("chat")
    today = client_for(planner).get("/alarms/performance/").context
    assert [a.source_id for a in today["chattering"]] == ["chat"] and today["p"].total == 3
    html = page.content.decode()
    assert 'id="perf-flood"><div class="n">16.7 %' in html and "77.8 %" in html

    bad = client_for(operator).get("/alarms/performance/?from=yesterday")
    assert bad.status_code == 400 and "The period is a date and time" in bad.content.decode()
    assert client_for(outsider).get("/alarms/performance/").status_code == 403


def test_a_der_under_maintenance_keeps_its_alarms_out_of_the_operators_way(
    operator_client: Client, planner: User, enrolled: Any
) -> None:
    der = enrolled("active", name="pv-maint", serial_number="SN-M")
    before = raise_(str(der.pk))
    url = f"/ders/{der.pk}/alarms-out-of-service/"
    assert client_for(planner).post(url, {"reason": "swap"}).status_code == 403
    refused = operator_client.post(url, {"reason": "  "}, follow=True)
    assert "Say why the alarms go out of service" in refused.content.decode()
    assert not AlarmOutOfService.objects.exists()
    operator_client.post(url, {"reason": "work order 4711: inverter swap"})
    before.refresh_from_db()
    assert before.suppressed_by == "out of service: work order 4711: inverter swap"
    clear(str(der.pk))
    during = raise_(str(der.pk))  # raised and recorded while it is out: suppressed from the start
    assert during.suppressed_by.startswith("out of service")
    assert alarm_counts()["unacked"] == 0 and alarm_counts()["suppressed"] == 1
    page = operator_client.get(f"/ders/{der.pk}/").content.decode()
    assert "Out of service" in page and "work order 4711" in page
    operator_client.post(f"/ders/{der.pk}/alarms-in-service/")
    during.refresh_from_db()
    assert during.suppressed_by == "" and alarm_counts()["unacked"] == 1
    actions = list(AuditRecord.objects.filter(action__in=["alarm.out_of_service", "alarm.return_to_service"]))
    assert len(actions) == 2
