"""The coordination cycle's record (issue #12 item 1): one cycle per interval, held by the database
however often a beat tick is delivered; one stage record per cycle, stage and scope, timed against
its budget; and the links between cycles, OPF runs, dispatch runs and set points as foreign keys,
not as sentences in a note."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from apps.cycle import actions
from apps.cycle.engine.schedule import Stage
from apps.cycle.models import Cycle, StageRun
from apps.der_registry.demo import seed_registry
from apps.der_registry.models import SetPoint
from apps.dms import actions as dms_actions
from apps.ems.actions import do_run_opf
from apps.ems.engine.dso import DsoInterface
from celery_tasks.dispatch import run_dispatch
from crest_web.accounts.models import AuditRecord
from tests.conftest import client_for

AT = dt.datetime(2026, 12, 4, 15, 47, 30, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 4, 15, 45, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_it_opens_one_cycle_per_interval_on_the_wall_clock_boundary() -> None:
    cycle, opened = actions.do_open_cycle(None, "beat", at=AT, interval_s=300.0, trigger="beat")
    again, opened_again = actions.do_open_cycle(
        None, "beat", at=AT + dt.timedelta(seconds=100), interval_s=300.0, trigger="beat"
    )
    assert opened and not opened_again and again.pk == cycle.pk
    assert cycle.interval_start == START and cycle.status == "running"
    assert AuditRecord.objects.filter(action="cycle.open").count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():  # the database holds it, not only the action
        Cycle.objects.create(interval_start=START, interval_s=300.0, trigger="manual")


@pytest.mark.django_db(transaction=True)
def test_it_opens_one_cycle_when_two_ticks_race() -> None:
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def tick() -> None:
        barrier.wait()
        try:
            results.append(actions.do_open_cycle(None, "beat", at=AT, interval_s=300.0, trigger="beat")[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert Cycle.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("interval_s", "words"),
    [(420.0, "must be 5, 10, 15 minutes, not 420 s"), (float("inf"), "a number of seconds")],
)
def test_it_refuses_an_interval_other_than_5_10_or_15_minutes(interval_s: float, words: str) -> None:
    with pytest.raises(actions.CycleError, match=words):
        actions.do_open_cycle(None, "admin", at=AT, interval_s=interval_s, trigger="manual")
    assert not Cycle.objects.exists() and not AuditRecord.objects.filter(action="cycle.open").exists()


@pytest.mark.django_db
def test_it_records_each_stage_once_per_scope_against_its_budget() -> None:
    cycle, _ = actions.do_open_cycle(None, "beat", at=AT, interval_s=600.0, trigger="beat")
    opf, started = actions.do_start_stage(cycle.pk, Stage.EMS_OPF)
    redelivered, started_again = actions.do_start_stage(cycle.pk, Stage.EMS_OPF)
    assert started and not started_again and redelivered.pk == opf.pk
    assert opf.budget_s == 90.0  # 45 s of a 5-minute interval, doubled for 10 minutes
    feeders = [actions.do_start_stage(cycle.pk, Stage.DMS_STAGE1, f"feeder:{n}")[0] for n in ("a", "b")]
    assert len({f.pk for f in feeders}) == 2
    ended = actions.do_end_stage(opf.pk, detail="3 linear programs")
    assert ended.outcome == "ok" and ended.duration_s is not None and 0 <= ended.duration_s < 5
    StageRun.objects.filter(pk=feeders[0].pk).update(
        started_at=feeders[0].started_at - dt.timedelta(seconds=61)
    )
    assert actions.do_end_stage(feeders[0].pk).outcome == "late"  # 61 s against 60 s
    assert actions.do_end_stage(feeders[1].pk, fallback=True).outcome == "fallback"
    assert actions.do_end_stage(opf.pk, failed=True).outcome == "ok"  # an ended stage stays as recorded
    with pytest.raises(IntegrityError), transaction.atomic():
        StageRun.objects.create(cycle=cycle, stage="ems_opf", scope="", started_at=AT, budget_s=1.0)


@pytest.mark.django_db(transaction=True)
def test_it_links_a_dispatch_runs_set_points_by_key(operator: User) -> None:
    seed_registry()
    run = dms_actions.do_request_dispatch(
        None, "ems", "ieee123", q_kvar=1000.0, v_sub_pu=1.0, trigger="ems", enqueue=False
    )
    assert run_dispatch.apply(args=(run.pk,)).get() == "done"
    issued = SetPoint.objects.filter(source="dms_dispatch")
    assert issued.exists() and set(issued.values_list("dispatch_run", flat=True)) == {run.pk}
    assert not issued.filter(note__contains="dispatch run").exists()  # a key, not a sentence
    der = issued[0].der
    html = client_for(operator).get(f"/ders/{der.pk}/").content.decode()
    assert f'href="/feeders/ieee123/dispatch/{run.pk}/"' in html


@pytest.mark.django_db
def test_it_a_beat_tick_opens_the_current_intervals_cycle_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Beat ticks every few seconds; only the first tick of an interval opens its cycle and queues
    its EMS half, so a redelivered or duplicated tick starts nothing."""
    from celery_tasks.cycle import tick

    with django_capture_on_commit_callbacks() as queued:
        first = tick.apply().get()
        second = tick.apply().get()
    assert isinstance(first, int) and second is None
    (cycle,) = Cycle.objects.all()
    assert cycle.pk == first and cycle.trigger == "beat" and cycle.interval_s == 300.0
    assert len([c for c in queued if "enqueue_on_commit" in c.__qualname__]) == 1  # one EMS half queued


@pytest.mark.django_db
def test_it_shows_cycles_to_every_role_and_nobody_else(operator: User, planner: User, outsider: User) -> None:
    cycle, _ = actions.do_open_cycle(None, "beat", at=AT, interval_s=300.0, trigger="beat")
    stage, _ = actions.do_start_stage(cycle.pk, Stage.COLLECT)
    actions.do_end_stage(stage.pk, detail="2 DSO interfaces")
    for user in (operator, planner):
        client = client_for(user)
        assert "2 DSO interfaces" in client.get("/cycles/").content.decode()
        assert client.get(f"/cycles/{cycle.pk}/").status_code == 200
        doc = client.get(f"/api/cycles/{cycle.pk}/").json()
        assert doc["interval_start"] == START.isoformat() and doc["stages"][0]["budget_s"] == 5.0
        assert client.get("/api/cycles/").json()["results"][0]["id"] == cycle.pk
    assert client_for(operator).get("/cycles/999999/").status_code == 404
    assert client_for(operator).get("/cycles/?n=abc").status_code == 200  # a bad count shows the default
    do_run_opf(None, "test", "case9", [DsoInterface(5, 1, -100.0, 100.0)], cycle_id=cycle.pk)
    page = client_for(operator).get(f"/cycles/{cycle.pk}/").content.decode()
    assert "[-100.0, 100.0]" in page and 'class="messages"' not in page  # DSO rows, not a notice bar
    nobody = client_for(outsider)
    assert nobody.get("/cycles/").status_code == 403 and nobody.get("/api/cycles/").status_code == 403


@pytest.mark.django_db
def test_it_alarms_a_stage_overrun_and_a_failed_cycle_until_they_end() -> None:
    """Issue #12 item 7 (part): a stage over its budget raises "Stage overrun" naming the stage and
    the times; the same stage in time in a later cycle clears it. A failed cycle raises "Cycle
    failed" until a cycle completes."""
    from apps.alarms.models import Alarm

    first, _ = actions.do_open_cycle(None, "beat", at=AT, interval_s=300.0, trigger="beat")
    opf, _ = actions.do_start_stage(first.pk, Stage.EMS_OPF)
    actions.do_end_stage(opf.pk, ended_at=opf.started_at + dt.timedelta(seconds=52))
    overrun = Alarm.objects.get(kind="overrun", source_type="stage", cleared_at__isnull=True)
    assert "EMS volt/var OPF took 52 s of its 45 s budget" in overrun.message
    actions.do_end_cycle(first.pk, failed=True, detail="the EMS OPF failed; nothing was sent")
    failed = Alarm.objects.get(kind="cycle_failed", cleared_at__isnull=True)
    assert "the EMS OPF failed" in failed.message

    later, _ = actions.do_open_cycle(
        None, "beat", at=AT + dt.timedelta(minutes=5), interval_s=300.0, trigger="beat"
    )
    opf, _ = actions.do_start_stage(later.pk, Stage.EMS_OPF)
    actions.do_end_stage(opf.pk)
    actions.do_end_cycle(later.pk)
    assert not Alarm.objects.filter(cleared_at__isnull=True).exists()
    assert Alarm.objects.filter(kind__in=["overrun", "cycle_failed"]).count() == 2  # kept, cleared
