"""State changes of capability studies. Each do_* owns its transaction, audit record and event."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.capability.engine.curve import parse_headroom
from apps.capability.inputs import live_pv_units, registry_pv_units
from apps.capability.models import PLACES_OWN_PV, CapabilityStudy, FeederProfile
from apps.der_registry.engine.polygon import polygon_radius_loss
from apps.dms.actions import FeederError
from apps.dms.feeders import current_version, replaced_elements
from crest_web import task_names
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit
from crest_web.task_queue import enqueue_on_commit

Status = CapabilityStudy.Status


class StudyError(ValueError):
    """A study request refused; the message says why in plain words."""


def _params(
    feeder_name: str, headroom: str, v_tm: float, sides: int, registry: bool = True, live: bool = False
) -> tuple[Any, dict[str, Any]]:
    """The inputs every study stores; `registry`: the study computes with the feeder's active DERs
    (`live`: those with fresh telemetry), which it then needs; otherwise it places its own PV."""
    try:
        version = current_version(feeder_name)
        headrooms = parse_headroom(headroom)
    except (FeederError, ValueError) as exc:
        raise StudyError(str(exc)) from exc
    if not math.isfinite(v_tm):  # JSON cannot store it, and no power flow solves at it
        raise StudyError(f"The transmission-side voltage v_tm must be a finite number of pu, not {v_tm}.")
    if not v_tm > 0:
        raise StudyError("The transmission-side voltage v_tm must be greater than 0 pu.")
    if not 3 <= sides <= 128:
        raise StudyError("The inverter polygon needs between 3 and 128 sides.")
    units = registry_pv_units(version.feeder) if registry else []
    excluded: list[str] = []
    if live:
        units, excluded = live_pv_units(version.feeder)
    if not units and registry:
        raise StudyError(f"Feeder {feeder_name} has no active DERs, so it has no var capability to study.")
    return version, {
        "headroom": headroom,
        "headrooms": headrooms,
        "v_tm": v_tm,
        "sides": sides,
        "load_scale": 1.0,
        "pv_units": [dataclasses.asdict(u) for u in units],
        # the feeder file's elements these DERs stand for: they leave the network (apps/dms/feeders.py)
        "replaced_elements": replaced_elements(version.feeder) if registry else [],
        "excluded_stale": excluded,
        "polygon_loss_pct": round(100 * polygon_radius_loss(sides), 2),
    }


def _publish(study: CapabilityStudy) -> None:
    publish_on_commit(
        "studies",
        "study.progress",
        {"id": study.pk, "status": study.status, "progress": round(study.progress, 3)},
    )


def _kind_params(kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The inputs a study kind needs beyond the headroom sweep's, checked."""
    if kind not in CapabilityStudy.Kind.values:
        raise StudyError(f"Unknown study kind {kind!r}; one of: {', '.join(CapabilityStudy.Kind.values)}.")
    out: dict[str, Any] = {}
    if kind == CapabilityStudy.Kind.VTM:
        try:
            out["v_tms"] = parse_range(str(extra.get("v_tm_range") or "0.85:1.2:0.05"), low=0.5, high=1.5)
        except ValueError as exc:
            raise StudyError(f"v_tm range: {exc}.") from exc
    if kind == CapabilityStudy.Kind.DAY_AHEAD:
        out.update(_day_ahead_shapes(extra, str(extra.get("feeder_name", ""))))
    if kind in PLACES_OWN_PV:
        try:
            out.update(
                penetration=float(extra.get("penetration") or 0.9),
                count=int(extra.get("count") or 100),
                oversize=float(extra.get("oversize") or 1.1),
                seed=int(extra.get("seed") or 1),
            )
        except (TypeError, ValueError) as exc:
            raise StudyError(
                "Penetration and oversize must be numbers; count and seed whole numbers."
            ) from exc
        if not (0 < out["penetration"] <= 3 and 1 <= out["count"] <= 5000 and 1 <= out["oversize"] <= 3):
            raise StudyError("Penetration must be in (0, 3], count in 1–5000 and oversize in [1, 3].")
    return out


# Accepted range of the normalized day-ahead factors (× nominal load, × available PV).
SHAPE_BOUNDS = {"load": (0.01, 3.0), "PV": (0.0, 1.5)}


def parse_shape(text: str, name: str) -> list[float]:
    """24 hourly values separated by commas, spaces or new lines."""
    parts = text.replace(",", " ").split()
    if len(parts) != 24:
        raise StudyError(f"The {name} shape needs 24 hourly values (hour 0 to 23); {len(parts)} were given.")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise StudyError(f"The {name} shape values must be numbers.") from None


def parse_forecast_csv(text: str) -> tuple[list[float], list[float]]:
    """A forecast file with columns hour, load, pv (normalized), one row per hour 0–23."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or {"hour", "load", "pv"} - set(rows[0]):
        raise StudyError("The forecast CSV needs the columns hour, load, pv (one row per hour 0–23).")
    try:
        by_hour = {int(r["hour"]): (float(r["load"]), float(r["pv"])) for r in rows}
    except (TypeError, ValueError):
        raise StudyError("Every forecast row needs a whole-number hour and numeric load and pv.") from None
    if sorted(by_hour) != list(range(24)):
        raise StudyError("The forecast CSV must have exactly the hours 0 to 23, once each.")
    return [by_hour[h][0] for h in range(24)], [by_hour[h][1] for h in range(24)]


def _day_ahead_shapes(extra: dict[str, Any], feeder_name: str) -> dict[str, Any]:
    """Shapes from an uploaded forecast, from the form, or else the feeder's stored profile."""
    if extra.get("forecast_csv"):
        load, pv = parse_forecast_csv(str(extra["forecast_csv"]))
    else:
        load, pv = feeder_shapes(feeder_name)
        if extra.get("load_shape"):
            load = parse_shape(str(extra["load_shape"]), "load")
        if extra.get("pv_shape"):
            pv = parse_shape(str(extra["pv_shape"]), "PV")
    for name, values in (("load", load), ("PV", pv)):
        low, high = SHAPE_BOUNDS[name]
        if any(not low <= v <= high for v in values):
            raise StudyError(f"The {name} shape values must lie between {low:g} and {high:g}.")
    return {"load_shape": load, "pv_shape": pv}


MAX_RANGE_VALUES = 200  # values of a swept study parameter (each one a whole capability curve)


def parse_range(text: str, *, low: float, high: float) -> list[float]:
    """'START:STOP:STEP' within [low, high] → the values, STOP included."""
    try:
        start, stop, step = (float(p) for p in text.split(":"))
    except ValueError:
        raise ValueError(f"write START:STOP:STEP, e.g. 0.85:1.2:0.05 (got {text!r})") from None
    if not (low <= start <= stop <= high and 0 < step < math.inf):
        raise ValueError(f"values must satisfy {low} ≤ START ≤ STOP ≤ {high} and STEP > 0")
    intervals = (stop - start) / step + 1e-9  # a float first: a tiny step makes it infinite
    if not intervals < MAX_RANGE_VALUES:
        raise ValueError(f"at most {MAX_RANGE_VALUES} values; use a larger step")
    return [round(start + i * step, 6) for i in range(int(intervals) + 1)]


@transaction.atomic
def do_start_study(
    actor: Actor,
    source: str,
    feeder_name: str,
    *,
    headroom: str = "0:1:0.05",
    v_tm: float = 1.0,
    sides: int = 16,
    kind: str = "headroom",
    extra: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> CapabilityStudy:
    """Queue a capability study; a worker runs it. Headroom, v_tm, day-ahead and live studies use
    the feeder's active DERs; compliance, unbalance and penetration studies place PV themselves."""
    kind_params = _kind_params(kind, {**(extra or {}), "feeder_name": feeder_name})
    version, params = _params(
        feeder_name,
        headroom,
        v_tm,
        sides,
        registry=kind not in PLACES_OWN_PV,
        live=kind == CapabilityStudy.Kind.LIVE,
    )
    params.update(kind_params)
    if kind == CapabilityStudy.Kind.DAY_AHEAD:  # the shapes used become the feeder's profile
        do_set_feeder_profile(actor, source, feeder_name, params["load_shape"], params["pv_shape"])
    study = CapabilityStudy.objects.create(
        kind=kind,
        feeder=version.feeder,
        feeder_version=version,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        params=params,
    )
    audit.record(
        actor,
        source,
        "capability.start",
        study,
        after={
            "kind": kind,
            "feeder": feeder_name,
            "version": version.number,
            "headroom": headroom,
            "v_tm": v_tm,
            "sides": sides,
            "ders": study.der_count,
        },
    )
    if enqueue:  # the command line runs the study in its own process instead
        enqueue_on_commit(task_names.CAPABILITY_RUN_STUDY, study.pk)
    _publish(study)
    return study


@transaction.atomic
def do_cancel_study(actor: Actor, source: str, study_id: int) -> CapabilityStudy:
    study = CapabilityStudy.objects.select_for_update().get(pk=study_id)
    if study.status not in (Status.QUEUED, Status.RUNNING):
        raise StudyError(f"This study is {study.status}; only queued or running studies can be cancelled.")
    study.status = Status.CANCELLED
    study.save(update_fields=["status"])
    audit.record(actor, source, "capability.cancel", study, after={"progress": study.progress})
    _publish(study)
    return study


@transaction.atomic
def do_record_progress(study_id: int, progress: float, status: str = Status.RUNNING) -> bool:
    """Called by the worker between chunks; False when the study was cancelled meanwhile or has
    already finished (a redelivered task must not compute it again)."""
    study = CapabilityStudy.objects.select_for_update().get(pk=study_id)
    if study.status not in (Status.QUEUED, Status.RUNNING):
        return False
    study.status, study.progress = status, progress
    study.save(update_fields=["status", "progress"])
    _publish(study)
    return True


@transaction.atomic
def do_finish_study(
    study_id: int, result: dict[str, Any], validation: dict[str, Any], compute_s: float, error: str = ""
) -> CapabilityStudy:
    study = CapabilityStudy.objects.select_for_update().get(pk=study_id)
    if study.status not in (Status.QUEUED, Status.RUNNING):
        return study
    study.status = Status.FAILED if error else Status.DONE
    study.progress = study.progress if error else 1.0
    study.result, study.validation, study.compute_s, study.error = result, validation, compute_s, error
    study.save()
    audit.record(
        None,
        "task",
        "capability.fail" if error else "capability.done",
        study,
        after={"compute_s": round(compute_s, 3), "error": error, "finished": timezone.now()},
    )
    _publish(study)
    return study


@transaction.atomic
def do_set_feeder_profile(
    actor: Actor, source: str, feeder_name: str, load_shape: list[float], pv_shape: list[float]
) -> FeederProfile:
    """Store the feeder's day-ahead shapes (already checked by _day_ahead_shapes)."""
    version = current_version(feeder_name)
    profile = FeederProfile.objects.select_for_update().filter(feeder=version.feeder).first()
    before = {"load_shape": profile.load_shape, "pv_shape": profile.pv_shape} if profile else None
    profile, _ = FeederProfile.objects.update_or_create(
        feeder=version.feeder,
        defaults={
            "load_shape": load_shape,
            "pv_shape": pv_shape,
            "updated_by": actor if actor is not None and actor.is_authenticated else None,
        },
    )
    audit.record(
        actor,
        source,
        "capability.profile",
        profile,
        before=before,
        after={"load_shape": load_shape, "pv_shape": pv_shape},
    )
    return profile


def feeder_shapes(feeder_name: str) -> tuple[list[float], list[float]]:
    """The feeder's stored day-ahead shapes, or the defaults."""
    from apps.capability.engine.studies import LOAD_SHAPE, PV_SHAPE

    profile = FeederProfile.objects.filter(feeder__name=feeder_name).first()
    if profile is None:
        return list(LOAD_SHAPE), list(PV_SHAPE)
    return list(profile.load_shape), list(profile.pv_shape)
