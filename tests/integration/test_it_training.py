"""The trainer's scenarios (issue #13 item 4) from the control room's side: an admin starts one on the
panel, over the API or with `manage.py scenario`; it is checked, stored, audited, marked on the cycle
timeline and sent to the plant simulator's instructor API — a real `run_plant` — whose physics then
show it: a cloud passage over the feeder at noon raises the head P its RTU reports. Bad input and
non-admins get words and change nothing; a plant that cannot be reached is said to be so."""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import override_settings

from apps.dms.engine.dnp3.master import Endpoint, MasterOptions, MasterPool
from apps.dms.engine.dnp3.points import SUBSTATION_RTU
from apps.training.models import Scenario
from celery_tasks.training import deliver, end
from crest_web.accounts.models import AuditRecord
from crest_web.launcher import free_port
from tests.conftest import client_for
from tests.integration.dnp3_support import until
from tests.integration.dso_support import _end
from tests.integration.plant_support import plant_layout, start_plant

pytestmark = pytest.mark.django_db(transaction=True)
MASTER = MasterOptions(response_timeout_s=3.0, event_poll_s=0.3, retry_min_s=0.1, retry_max_s=1.0)
TOKEN = "test-plant-token"


@pytest.fixture
def plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """A running plant with its instructor API; (its URL, its RTU's port)."""
    layout, _, rtu_port = plant_layout(tmp_path)
    port = free_port()
    monkeypatch.setenv("CREST_PLANT_TOKEN", TOKEN)
    proc: subprocess.Popen[str] = start_plant(layout, tmp_path, "--control-port", str(port))
    yield f"http://127.0.0.1:{port}", rtu_port
    _end(proc)


def head_p_kw(pool: MasterPool) -> float | None:
    values: dict[str, float] = {}
    for event in pool.drain(0.2):
        if event.kind == "values":
            values.update(event.values)
    return values.get("p_kw")


def test_it_a_cloud_passage_reaches_the_plant_and_the_rtu_shows_the_pv_it_took(
    plant: tuple[str, int], admin_user: User, operator: User
) -> None:
    url, rtu_port = plant
    pool = MasterPool(MASTER)
    try:
        pool.add("rtu", Endpoint("127.0.0.1", rtu_port, 10), SUBSTATION_RTU)
        readings: list[float] = []
        step = lambda: readings.extend(p for p in [head_p_kw(pool)] if p is not None)  # noqa: E731
        assert until(lambda: len(readings) >= 2, step)
        before = readings[-1]

        with override_settings(CREST_PLANT_URL=url, CREST_PLANT_TOKEN=TOKEN):
            answer = client_for(admin_user).post(
                "/api/training/scenarios/",
                {"kind": "cloud", "feeders": ["plant13"], "factor": 0.1, "duration_s": 600},
                content_type="application/json",
            )
            assert answer.status_code == 201, answer.content
            scenario = Scenario.objects.get(pk=answer.json()["id"])
            assert deliver(scenario.pk) == "taken"  # the task, run here against the real plant
        scenario.refresh_from_db()
        assert scenario.status == "running" and scenario.plant_note == ""
        assert AuditRecord.objects.filter(action="scenario.start", actor=admin_user).exists()
        # The PV of six DERs (each ~10 kW at noon) is 90 % gone: the head draws tens of kW more.
        assert until(lambda: bool(readings) and readings[-1] > before + 20.0, step), (before, readings[-5:])

        with override_settings(CREST_PLANT_URL=url, CREST_PLANT_TOKEN=TOKEN):
            truth = client_for(admin_user).get("/training/truth/").content.decode()
        assert '<h2 id="h-plant13">plant13</h2>' in truth and "Measured (RTU)" in truth
        assert truth.count("kvar</td>") >= 6  # the feeder's six DERs, true beside measured
        assert client_for(operator).get("/training/truth/").status_code == 403
        timeline = client_for(operator).get("/cycles/").content.decode()
        assert f'data-scenario="{scenario.pk}"' in timeline and "Cloud passage on plant13" in timeline

        with override_settings(CREST_PLANT_URL=url, CREST_PLANT_TOKEN=TOKEN):
            ended = client_for(admin_user).post(f"/api/training/scenarios/{scenario.pk}/end/")
            assert ended.status_code == 200 and ended.json()["ended_early"] is True
            assert end(scenario.pk) == "ended"
        assert until(lambda: bool(readings) and readings[-1] < before + 10.0, step), (before, readings[-5:])
    finally:
        pool.close()
    request = urllib.request.Request(f"{url}/scenarios", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        kept = json.loads(answer.read())
    assert [s["id"] for s in kept] == [scenario.pk] and kept[0]["duration_s"] < 600


def test_it_a_plant_that_cannot_be_reached_or_refuses_is_said_to(
    plant: tuple[str, int], admin_user: User
) -> None:
    url, _ = plant
    start = {"kind": "load_step", "feeders": ["plant13"], "duration_s": 60}
    with override_settings(CREST_PLANT_URL=f"http://127.0.0.1:{free_port()}"):
        first = client_for(admin_user).post(
            "/api/training/scenarios/", start, content_type="application/json"
        )
        assert deliver(first.json()["id"]) == "undelivered"
        page = client_for(admin_user).get("/training/truth/")
        assert page.status_code == 200 and "did not answer" in page.content.decode()
    assert "did not answer" in Scenario.objects.get(pk=first.json()["id"]).plant_note
    with override_settings(CREST_PLANT_URL=url, CREST_PLANT_TOKEN="wrong"):
        second = client_for(admin_user).post(
            "/api/training/scenarios/", {**start, "start_in_s": 120}, content_type="application/json"
        )
        assert deliver(second.json()["id"]) == "undelivered"
    assert "needs its token" in Scenario.objects.get(pk=second.json()["id"]).plant_note


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"kind": "cloud", "feeders": ["nowhere"], "duration_s": 60}, "There is no feeder named nowhere"),
        ({"kind": "cloud", "feeders": ["plant13"], "duration_s": -60}, "between 1 s and 604800 s"),
        ({"kind": "cloud", "feeders": [], "duration_s": 60}, "needs at least one feeder"),
        ({"kind": "der_trips", "der": "pv-nobody", "duration_s": 60}, "no active DER named 'pv-nobody'"),
        ({"kind": "line_outage", "branch": "5-99", "duration_s": 60}, "bus 99 does not exist"),
        ({"kind": "meteor", "duration_s": 60}, "Unknown scenario 'meteor'"),
        ({"kind": "load_step", "feeders": ["plant13"], "duration_s": 60, "factor": 9}, "between 0.1 and 3"),
    ],
)
def test_it_refuses_bad_scenarios_in_words_and_stores_nothing(
    admin_user: User, doc: dict[str, Any], words: str, tmp_path: Path
) -> None:
    plant_layout(tmp_path)
    answer = client_for(admin_user).post("/api/training/scenarios/", doc, content_type="application/json")
    assert answer.status_code == 400 and words in answer.json()["error"], answer.content
    assert not Scenario.objects.exists() and not AuditRecord.objects.filter(action="scenario.start").exists()


def test_it_refuses_an_overlap_and_a_non_admin(
    admin_user: User, operator: User, planner: User, tmp_path: Path
) -> None:
    plant_layout(tmp_path)
    doc = {"kind": "cloud", "feeders": ["plant13"], "duration_s": 600}
    assert (
        client_for(admin_user)
        .post("/api/training/scenarios/", doc, content_type="application/json")
        .status_code
        == 201
    )
    later = {**doc, "start_in_s": 300}
    clash = client_for(admin_user).post("/api/training/scenarios/", later, content_type="application/json")
    assert clash.status_code == 400 and "overlaps scenario" in clash.json()["error"]
    for user in (operator, planner):
        refused = client_for(user).post("/api/training/scenarios/", later, content_type="application/json")
        assert refused.status_code == 403 and "Only an admin" in refused.json()["detail"]
        assert client_for(user).get("/training/").status_code == 403
    assert Scenario.objects.count() == 1
    page = client_for(admin_user).post(
        "/training/", {"kind": "cloud", "feeders": "plant13", "duration_min": "-3"}
    )
    assert (
        page.status_code == 400
        and "Nothing was started: The duration must be between" in page.content.decode()
    )
    assert Scenario.objects.count() == 1


def test_it_the_command_starts_lists_and_ends_and_refuses_in_words(tmp_path: Path) -> None:
    plant_layout(tmp_path)
    out = io.StringIO()
    call_command(
        "scenario",
        "start",
        "load_step",
        "--feeder",
        "plant13",
        "--factor",
        "1.3",
        "--duration",
        "300",
        "--json",
        stdout=out,
    )
    (started,) = json.loads(out.getvalue())
    assert started["label"] == "Load step on plant13 × 1.3" and started["status"] == "queued"
    with pytest.raises(CommandError, match="overlaps scenario"):
        call_command(
            "scenario", "start", "load_step", "--feeder", "plant13", "--duration", "60", stdout=io.StringIO()
        )
    time.sleep(0.01)
    call_command("scenario", "end", str(started["id"]), stdout=io.StringIO())
    with pytest.raises(CommandError, match=f"Scenario {started['id']} is not running"):
        call_command("scenario", "end", str(started["id"]), stdout=io.StringIO())
    listing = io.StringIO()
    call_command("scenario", "list", stdout=listing)
    assert f"{started['id']}: Load step on plant13 × 1.3" in listing.getvalue()
    assert AuditRecord.objects.filter(action="scenario.end", source="cli").count() == 1
