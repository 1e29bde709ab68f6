"""The operator's overview (issue #14 item 1): the cycle running now and the last twelve, and one
tile per DSO with requested against achieved Q, the range bar, the shortfall and its cause, the
mode, the alarms that concern it and the TSO–DSO traffic light — from the records the cycle and the
alarms leave; a bounded number of queries with 50 DSOs; read by every role, nothing for outsiders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.alarms.actions import do_raise_alarm
from apps.cycle.models import Cycle, StageRun
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def opf_run(at: dt.datetime, cycle: Cycle | None = None) -> OpfRun:
    return OpfRun.objects.create(
        interval_start=at, cycle=cycle, case="case9", iterations=3, objective_mw=5.1, losses_mw=5.1,
        losses_mw_before=5.2, solve_s=0.1,
    )  # fmt: skip


def message(run: OpfRun, bus: int, **answer: Any) -> DsoMessage:
    return DsoMessage.objects.create(
        run=run, interval_start=run.interval_start, bus=bus, count=2, q_min_kvar=-100.0, q_max_kvar=300.0,
        q_request_kvar=200.0, v_pu=1.01, **answer,
    )  # fmt: skip


def test_it_shows_the_cycle_now_and_a_tile_per_dso_with_its_light(
    operator_client: Client, planner: User, outsider: User, ieee13: Any
) -> None:
    now = timezone.now().replace(microsecond=0)
    cycles = [
        Cycle.objects.create(interval_start=now - dt.timedelta(minutes=5 * (13 - i)), interval_s=300,
                             trigger="beat", status="done", dms_fallback=i == 10)
        for i in range(13)
    ]  # fmt: skip
    current = Cycle.objects.create(interval_start=now, interval_s=300, trigger="beat")
    StageRun.objects.create(cycle=current, stage="ems_opf", started_at=now, budget_s=45.0)
    for bus, name in ((5, "ieee13"), (7, "south"), (9, "west")):
        DsoEndpoint.objects.create(bus=bus, name=name, host="127.0.0.1", port=20500 + bus, feeder_count=2)
    run = opf_run(now, current)
    answered = {"answered_at": now, "dms_healthy": True, "fallback_active": False}
    message(run, 5, q_achieved_kvar=200.0, dms_q_shortfall_kvar=0.0, dms_violations_left=0, **answered)
    message(run, 7, q_achieved_kvar=150.0, dms_q_shortfall_kvar=100.0, dms_shortfall_cause="voltage limit",
            dms_violations_left=0, **answered)  # fmt: skip
    message(run, 9)  # never answered
    do_raise_alarm(None, "system", kind="ems_link_down", source_type="dso", source_id=9, message="no answer")

    page = operator_client.get("/")
    assert page.status_code == 200
    ctx = page.context
    assert ctx["current"] == current and ctx["running_stage"].stage == "ems_opf"
    assert [c.pk for c in ctx["strip"]] == [c.pk for c in cycles[-11:]] + [current.pk]  # the last 12
    assert ctx["last_ended"] == cycles[-1]
    tiles = {t.endpoint.bus: t for t in ctx["tiles"]}
    assert (tiles[5].light, tiles[5].reason) == ("green", "delivered within its range")
    assert (tiles[5].requested_kvar, tiles[5].achieved_kvar) == (400.0, 400.0)  # per feeder × 2
    assert (tiles[7].light, tiles[7].reason) == ("amber", "100 kvar short")
    assert (tiles[9].light, tiles[9].reason) == ("red", "EMS–DMS link down")
    assert tiles[5].mode == "automatic" and tiles[7].mode.startswith("—")
    assert tiles[9].alarms == ["EMS–DMS link down: no answer"]
    html = page.content.decode()
    assert "▲ Constrained" in html and "■ Unavailable" in html and "● Full flexibility" in html
    assert "100 kvar (voltage limit)" in html and "cell-fallback" in html  # the cycle done in fallback
    assert ctx["lights"] == {"green": 1, "amber": 1, "red": 1}

    fragment = client_for(planner).get("/?fragment=1")  # what the page fetches on each event
    assert fragment.status_code == 200 and 'id="dso-7"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    assert client_for(outsider).get("/?fragment=1").status_code == 403


def test_it_reads_fifty_dsos_in_a_bounded_number_of_queries(
    operator_client: Client, django_assert_max_num_queries: Any
) -> None:
    now = timezone.now()
    run = opf_run(now)
    for bus in range(1, 51):
        DsoEndpoint.objects.create(bus=bus, name=f"dso{bus}", host="127.0.0.1", port=20000 + bus)
        message(run, bus, answered_at=now, dms_healthy=True, q_achieved_kvar=200.0)
    with django_assert_max_num_queries(20):
        assert len(operator_client.get("/").context["tiles"]) == 50


def test_the_trends_show_a_day_per_dso_and_the_voltage_band_per_feeder(
    operator_client: Client, outsider: User, ieee13: Any
) -> None:
    from apps.dms.models import DispatchRun

    now = timezone.now()
    DsoEndpoint.objects.create(bus=5, name="ieee13", host="127.0.0.1", port=20500)
    for hours_ago, achieved in ((30, 1.0), (2, 180.0), (1, 200.0)):  # the first is older than a day
        message(opf_run(now - dt.timedelta(hours=hours_ago)), 5, q_achieved_kvar=achieved)
    run = DispatchRun.objects.create(
        feeder=ieee13, trigger="ems", status="done", q_requested_kvar=50.0, v_sub_pu=1.0,
        result={"v_min_pu_after": 0.962, "v_max_pu_after": 1.041},
    )  # fmt: skip
    page = operator_client.get("/cycles/trends/")
    assert page.status_code == 200
    figures = dict(page.context["figures"])
    dso = {trace["name"]: trace["y"] for trace in figures["dso-5"]["data"]}
    assert dso["achieved"] == [360.0, None, 400.0]  # × 2 feeders; an hour apart: the line breaks
    assert dso["requested"] == [400.0, None, 400.0]
    assert dso["q_min offered"] == [-200.0, None, -200.0] and dso["q_max offered"] == [600.0, None, 600.0]
    volts = {trace["name"]: trace["y"] for trace in figures["feeder-ieee13"]["data"]}
    assert volts == {"lowest": [0.962], "highest": [1.041]} and run.pk
    band = figures["feeder-ieee13"]["layout"]["shapes"][0]
    assert (band["y0"], band["y1"]) == (0.95, 1.05)
    assert 'data-figure="fig-dso-5"' in page.content.decode()
    assert client_for(outsider).get("/cycles/trends/").status_code == 403


def test_the_overview_api_says_what_the_page_shows(operator_client: Client, outsider: User) -> None:
    now = timezone.now()
    DsoEndpoint.objects.create(bus=7, name="south", host="127.0.0.1", port=20507, feeder_count=2)
    message(opf_run(now), 7, answered_at=now, dms_healthy=True, q_achieved_kvar=150.0,
            dms_q_shortfall_kvar=100.0, dms_shortfall_cause="voltage limit")  # fmt: skip
    doc = operator_client.get("/api/overview/").json()
    assert doc["lights"] == {"green": 0, "amber": 1, "red": 0} and doc["current"] is None
    (dso,) = doc["dsos"]
    assert (dso["bus"], dso["light"], dso["reason"]) == (7, "amber", "100 kvar short")
    assert (dso["requested_kvar"], dso["achieved_kvar"], dso["q_min_kvar"], dso["q_max_kvar"]) == (
        400.0, 300.0, -200.0, 600.0,
    )  # fmt: skip
    assert client_for(outsider).get("/api/overview/").status_code == 403
    schema = operator_client.get("/api/schema/").content.decode()
    assert "/api/overview/" in schema and "/api/alarms/{id}/shelve/" in schema


def test_a_request_in_flight_does_not_turn_the_light_red_but_an_unanswered_one_does(
    operator_client: Client,
) -> None:
    """Every cycle waits some seconds for each DSO's answer: meanwhile its tile keeps the last answer
    (found in the demo: the light went red for a third of every cycle)."""
    now = timezone.now()
    DsoEndpoint.objects.create(bus=5, name="ieee13", host="127.0.0.1", port=20500)
    answered = {"answered_at": now - dt.timedelta(minutes=5), "dms_healthy": True, "q_achieved_kvar": 200.0}
    message(opf_run(now - dt.timedelta(minutes=5)), 5, dms_q_shortfall_kvar=0.0, **answered)
    message(opf_run(now), 5)  # this interval's request: no answer yet
    (tile,) = operator_client.get("/").context["tiles"]
    assert tile.light == "green" and tile.achieved_kvar == 400.0
    DsoMessage.objects.filter(answered_at__isnull=True).update(interval_start=now - dt.timedelta(minutes=6))
    message(opf_run(now - dt.timedelta(minutes=5, seconds=30)), 5)  # unanswered, its interval over
    DsoMessage.objects.filter(answered_at__isnull=False).update(interval_start=now - dt.timedelta(minutes=10))
    (tile,) = operator_client.get("/").context["tiles"]
    assert (tile.light, tile.reason) == ("red", "no answer from the DMS to the last request")
