"""Running one capability study (kind, headroom sweep, validation), progress reported and
cancellation checked: by the Celery task `crest.capability.run_study` on the workers and by the
`capability_study` command in its own process."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from apps.capability import actions
from apps.capability.engine import studies
from apps.capability.engine.curve import capability_curve, to_json
from apps.capability.engine.pv import PVUnit
from apps.capability.engine.validation import CurveValidation, validate_curve
from apps.capability.models import CapabilityStudy
from apps.dms.engine.feeder_ders import without_elements
from apps.dms.engine.network import Network
from apps.dms.locks import FeederBusy, feeder_lock

CHUNK = 5  # headroom points between progress reports (and cancellation checks)
Kind = CapabilityStudy.Kind


def _units(params: dict[str, Any]) -> list[PVUnit]:
    return [
        # Studies stored before reactive ratings were kept have none: the kVA disk, as then.
        PVUnit(**{**u, "phases": tuple(u["phases"])})
        for u in params["pv_units"]
    ]


def run_study(study_id: int) -> str:
    """Compute a study, reporting progress; stops when cancelled, skips one already finished. Holds
    the feeder's interlocking lock (apps/dms/locks.py): no dispatch writes the feeder meanwhile."""
    study = CapabilityStudy.objects.select_related("feeder_version__feeder").get(pk=study_id)
    try:
        with feeder_lock(study.feeder_version.feeder.name, f"capability study {study_id}"):
            return _run_locked(study, study_id)
    except FeederBusy as exc:
        actions.do_finish_study(study_id, {}, {}, 0.0, error=str(exc)[:500])
        return "busy"


def _run_locked(study: CapabilityStudy, study_id: int) -> str:
    started = time.perf_counter()
    # without the file's elements the study's registry DERs stand for, as they were when it started
    net = without_elements(
        Network.from_dict(study.feeder_version.model), study.params.get("replaced_elements", [])
    )
    if not actions.do_record_progress(study_id, 0.0):
        return "skipped"  # cancelled, or already finished by an earlier delivery
    cancelled = False

    def progress(share: float) -> bool:
        nonlocal cancelled
        cancelled = not actions.do_record_progress(study_id, share)
        return not cancelled

    try:
        if study.kind in (Kind.HEADROOM, Kind.LIVE):
            result, validation = _headroom_sweep(net, study.params, progress)
        else:
            result, validation = _series_study(net, study.kind, study.params, progress), {}
    except Exception as exc:  # a failed study is reported to the planner, not lost in a log
        actions.do_finish_study(study_id, {}, {}, time.perf_counter() - started, error=str(exc)[:500])
        return "failed"
    if cancelled:
        return "cancelled"
    actions.do_finish_study(study_id, result, validation, time.perf_counter() - started)
    return "done"


def _headroom_sweep(
    net: Network, params: dict[str, Any], progress: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    headrooms: list[float] = params["headrooms"]
    points: list[dict[str, Any]] = []
    q_base, checks = 0.0, []  # type: tuple[float, list[Any]]
    validation: CurveValidation | None = None
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
        if not progress(len(points) / len(headrooms)):
            break
    summary = {}
    if validation is not None:  # every solution replayed in OpenDSS, over all chunks
        summary = dataclasses.replace(validation, checks=tuple(checks)).worst()
    return {"q_base_kvar": q_base, "points": points}, summary


def _series_study(net: Network, kind: str, params: dict[str, Any], progress: Any) -> dict[str, Any]:
    headrooms, sides = params["headrooms"], params["sides"]
    placed = {k: params[k] for k in ("penetration", "count", "seed") if k in params}
    if kind == Kind.VTM:
        return studies.vtm_sweep(
            net, _units(params), params["v_tms"], headrooms, sides=sides, progress=progress
        )
    if kind == Kind.DAY_AHEAD:
        return studies.day_ahead(
            net,
            _units(params),
            headrooms,
            sides=sides,
            progress=progress,
            load_shape=params.get("load_shape", studies.LOAD_SHAPE),
            pv_shape=params.get("pv_shape", studies.PV_SHAPE),
        )
    if kind == Kind.COMPLIANCE:
        return studies.compliance_options(net, **placed, sides=sides, progress=progress)
    if kind == Kind.UNBALANCE:
        return studies.unbalance(
            net, headrooms, **placed, oversize=params["oversize"], sides=sides, progress=progress
        )
    if kind == Kind.PENETRATION:
        return studies.penetration_oversize(
            net, headrooms, count=params["count"], seed=params["seed"], sides=sides, progress=progress
        )
    raise ValueError(f"No runner for study kind {kind!r}.")
