"""A trainer's scenario to the plant simulator's instructor API (apps/plant/engine/control.py), and
the plant's answer back on the scenario: taken, refused (in the plant's words) or not reached."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.training.actions import do_record_plant_answer, plant_doc
from apps.training.models import Scenario
from apps.training.plant_client import call
from crest_web import task_names


def _post(path: str, doc: dict[str, Any] | None) -> tuple[int, str]:
    status, _, words = call("POST", path, doc)
    return status, words


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
