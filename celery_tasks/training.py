"""A trainer's scenario to the plant simulator's instructor API (apps/plant/engine/control.py), and
the plant's answer back on the scenario: taken, refused (in the plant's words) or not reached."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from celery import shared_task
from django.conf import settings

from apps.training.actions import do_record_plant_answer, plant_doc
from apps.training.models import Scenario
from crest_web import task_names

TIMEOUT_S = 5.0


def _post(path: str, doc: dict[str, Any] | None) -> tuple[int, str]:
    """(HTTP status, the plant's words); status 0 when the plant could not be reached."""
    base = settings.CREST_PLANT_URL.rstrip("/")
    if not base:
        return 0, "no plant simulator is configured (CREST_PLANT_URL)"
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(doc or {}).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if settings.CREST_PLANT_TOKEN:
        request.add_header("Authorization", f"Bearer {settings.CREST_PLANT_TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as exc:
        try:
            words = str(json.loads(exc.read() or b"{}").get("error", ""))
        except (ValueError, AttributeError):
            words = ""
        return exc.code, words or f"the plant answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return 0, f"the plant simulator at {base} did not answer: {getattr(exc, 'reason', exc)}"


@shared_task(name=task_names.TRAINING_DELIVER)
def deliver(scenario_id: int) -> str:
    scenario = Scenario.objects.get(pk=scenario_id)
    status, words = _post("/scenarios", plant_doc(scenario))
    if status == 201:
        do_record_plant_answer(scenario_id, Scenario.Status.RUNNING, "")
        return "taken"
    state = (
        Scenario.Status.UNDELIVERED if status in (0, 401, 404) or status >= 500 else Scenario.Status.REFUSED
    )
    do_record_plant_answer(scenario_id, state, words)
    return str(state)


@shared_task(name=task_names.TRAINING_END)
def end(scenario_id: int) -> str:
    status, words = _post(f"/scenarios/{scenario_id}/end", None)
    if status != 200:
        do_record_plant_answer(scenario_id, Scenario.Status.UNDELIVERED, f"ending it: {words}")
        return "not reached"
    return "ended"
