from __future__ import annotations

import dataclasses
import time
from typing import Any

from celery import shared_task

from apps.capability import actions
from apps.capability.engine.curve import capability_curve, to_json
from apps.capability.engine.pv import PVUnit
from apps.capability.engine.validation import CurveValidation, validate_curve
from apps.capability.models import CapabilityStudy
from apps.dms.engine.network import Network

CHUNK = 5  # headroom points between progress reports (and cancellation checks)


def _units(params: dict[str, Any]) -> list[PVUnit]:
    return [
        PVUnit(u["name"], u["bus"], tuple(u["phases"]), u["p_avail_kw"], u["s_rated_kva"])
        for u in params["pv_units"]
    ]


@shared_task(name="crest.capability.run_study")
def run_study(study_id: int) -> str:
    """Compute a study's curve chunk by chunk, reporting progress; stops when cancelled."""
    study = CapabilityStudy.objects.select_related("feeder_version").get(pk=study_id)
    params, started = study.params, time.perf_counter()
    net = Network.from_dict(study.feeder_version.model)
    headrooms: list[float] = params["headrooms"]
    points: list[dict[str, Any]] = []
    q_base = 0.0
    checks: list[Any] = []
    validation: CurveValidation | None = None
    try:
        if not actions.do_record_progress(study_id, 0.0):
            return "skipped"  # cancelled, or already finished by an earlier delivery
        for start in range(0, len(headrooms), CHUNK):
            curve = capability_curve(
                net,
                _units(params),
                headrooms[start : start + CHUNK],
                v_tm=params["v_tm"],
                sides=params["sides"],
                load_scale=params["load_scale"],
            )
            doc = to_json(curve)
            q_base, points = doc["q_base_kvar"], points + doc["points"]
            validation = validate_curve(net, curve)
            checks += validation.checks
            if not actions.do_record_progress(study_id, len(points) / len(headrooms)):
                return "cancelled"
    except Exception as exc:  # a failed study is reported to the planner, not lost in a log
        actions.do_finish_study(study_id, {}, {}, time.perf_counter() - started, error=str(exc)[:500])
        return "failed"
    summary = {}
    if validation is not None:  # every solution replayed in OpenDSS, over all chunks
        summary = dataclasses.replace(validation, checks=tuple(checks)).worst()
    actions.do_finish_study(
        study_id, {"q_base_kvar": q_base, "points": points}, summary, time.perf_counter() - started
    )
    return "done"
