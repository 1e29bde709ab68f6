"""Starting and ending a trainer's scenario: checked here against what the control room knows (its
feeders, DERs and transmission case), audited, shown live on the cycle timeline, and sent to the
plant by a task (by name) — the plant checks it again against its own layout."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.der_registry.models import DER
from apps.dms.models import Feeder
from apps.ems.engine.case import find_branch, load_case
from apps.ems.models import DsoEndpoint
from apps.standards.scenarios import (
    DEFAULT_FACTOR,
    DER_KINDS,
    FACTOR_RANGE,
    FEEDER_KINDS,
    KINDS,
    LABELS,
    MAX_DURATION_S,
    NETWORK_TIERS,
)
from apps.training.models import Scenario
from crest_web import task_names
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit
from crest_web.task_queue import enqueue_on_commit

SOURCES = ("web", "api", "cli")
LIVE = (Scenario.Status.QUEUED, Scenario.Status.RUNNING)


class ScenarioError(ValueError):
    """A scenario refused; the message says why in words a trainer understands."""


def _seconds(raw: object, what: str, low: float, high: float) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScenarioError(f"The {what} must be a number of seconds, not {raw!r}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ScenarioError(f"The {what} must be between {low:g} s and {high:g} s (7 days), not {value:g} s.")
    return value


def _network(kind: str, doc: dict[str, Any]) -> dict[str, str]:
    """The tier of a lost DER segment, or the DSO interface of a lost EMS–DMS link."""
    if kind == "segment_lost":
        tier = str(doc.get("tier") or "").lower()
        if tier not in NETWORK_TIERS:
            raise ScenarioError(f"Name the network tier that is lost: one of {', '.join(NETWORK_TIERS)}.")
        return {"tier": tier}
    link = str(doc.get("link") or "")
    if not DsoEndpoint.objects.filter(name=link).exists():
        names = ", ".join(DsoEndpoint.objects.order_by("name").values_list("name", flat=True)) or "none yet"
        raise ScenarioError(f"There is no DSO interface named {link!r} (known: {names}).")
    return {"link": link}


def _targets(kind: str, feeders: list[str], der: str, branch: str) -> tuple[list[str], str, str]:
    if kind in FEEDER_KINDS:
        names = sorted({f.strip() for f in feeders if f.strip()})
        if not names:
            raise ScenarioError(f"A {LABELS[kind].lower()} needs at least one feeder.")
        known = set(Feeder.objects.filter(name__in=names).values_list("name", flat=True))
        missing = [n for n in names if n not in known]
        if missing:
            raise ScenarioError(f"There is no feeder named {', '.join(missing)}.")
        return names, "", ""
    if kind in DER_KINDS:
        if not DER.objects.filter(name=der, status="active").exists():
            raise ScenarioError(f"There is no active DER named {der!r}.")
        return [], der, ""
    try:
        case = settings.CREST_CYCLE_CASE  # the plant simulates the EMS's own case
        find_branch(load_case(case), case, branch)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    return [], "", branch.strip()


def _factor(kind: str, raw: object) -> float:
    if kind not in FACTOR_RANGE:
        return 1.0
    low, high = FACTOR_RANGE[kind]
    try:
        value = DEFAULT_FACTOR[kind] if raw in (None, "") else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScenarioError(f"The factor must be a number, not {raw!r}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ScenarioError(
            f"A {LABELS[kind].lower()}'s factor is between {low:g} and {high:g}, not {value:g}."
        )
    return value


def _overlap(candidate: Scenario) -> None:
    others = Scenario.objects.filter(kind=candidate.kind, status__in=LIVE).select_for_update()
    for other in others:
        shared = other.targets() & candidate.targets()
        if shared and other.start_at < candidate.end_at and candidate.start_at < other.end_at:
            raise ScenarioError(
                f"It overlaps scenario {other.pk} ({other.label()}, until {other.end_at:%H:%M:%S} UTC); "
                "end that one first or start this one later."
            )


@transaction.atomic
def do_start_scenario(actor: Actor, source: str, doc: dict[str, Any]) -> Scenario:
    """{kind, feeders | der | branch, factor?, start_in_s?, duration_s}; ScenarioError (nothing
    stored) when it cannot run."""
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ScenarioError(f"Unknown scenario {kind!r}; choose one of: {', '.join(KINDS)}.")
    raw_feeders = doc.get("feeders") or []
    feeders = [str(f) for f in raw_feeders] if isinstance(raw_feeders, list | tuple) else [str(raw_feeders)]
    network = _network(kind, doc) if kind in ("segment_lost", "link_lost") else {}
    der, branch = str(doc.get("der") or ""), str(doc.get("branch") or "")
    names, der, branch = ([], "", "") if network else _targets(kind, feeders, der, branch)
    duration_s = _seconds(doc.get("duration_s"), "duration", 1.0, MAX_DURATION_S)
    start_in_s = _seconds(doc.get("start_in_s") or 0, "start delay", 0.0, MAX_DURATION_S)
    scenario = Scenario(
        kind=kind, feeders=names, der=der, branch=branch, factor=_factor(kind, doc.get("factor")),
        start_at=timezone.now() + dt.timedelta(seconds=start_in_s), duration_s=duration_s,
        created_by=actor if actor is not None and actor.is_authenticated else None, **network,
    )  # fmt: skip
    _overlap(scenario)
    scenario.save()
    audit.record(actor, source, "scenario.start", scenario, after=_doc(scenario))
    _publish(scenario)
    enqueue_on_commit(task_names.TRAINING_DELIVER, scenario.pk)
    return scenario


@transaction.atomic
def do_end_scenario(actor: Actor, source: str, pk: int) -> Scenario:
    """End a running (or not yet started) scenario now; the plant goes back by itself."""
    scenario = Scenario.objects.select_for_update().filter(pk=pk).first()
    if scenario is None:
        raise ScenarioError(f"There is no scenario {pk}.")
    now = timezone.now()
    if scenario.status not in LIVE or scenario.end_at <= now:
        state = scenario.get_status_display().lower()
        raise ScenarioError(f"Scenario {pk} is not running ({state}, ends {scenario.end_at:%H:%M:%S} UTC).")
    before = _doc(scenario)
    scenario.duration_s = max((now - scenario.start_at).total_seconds(), 0.0)
    scenario.ended_early = True
    scenario.save(update_fields=["duration_s", "ended_early"])
    audit.record(actor, source, "scenario.end", scenario, before=before, after=_doc(scenario))
    _publish(scenario)
    enqueue_on_commit(task_names.TRAINING_END, scenario.pk)
    return scenario


@transaction.atomic
def do_record_plant_answer(pk: int, status: str, note: str) -> None:
    """What the plant said to a scenario (the delivery task)."""
    scenario = Scenario.objects.select_for_update().get(pk=pk)
    scenario.status, scenario.plant_note = status, note[:300]
    scenario.save(update_fields=["status", "plant_note"])
    _publish(scenario)


def _doc(s: Scenario) -> dict[str, Any]:
    return {
        "kind": s.kind, "feeders": list(s.feeders), "der": s.der, "branch": s.branch, "tier": s.tier,
        "link": s.link, "factor": s.factor, "start_at": s.start_at.isoformat(), "duration_s": s.duration_s,
    }  # fmt: skip


def plant_doc(s: Scenario) -> dict[str, Any]:
    """The scenario as the plant's instructor API takes it (apps/plant/engine/control.py)."""
    return {
        "id": s.pk, "kind": s.kind, "start_s": s.start_at.timestamp(), "duration_s": s.duration_s,
        "feeders": list(s.feeders), "der": s.der, "branch": s.branch, "factor": s.factor, "tier": s.tier,
        "link": s.link,
    }  # fmt: skip


def _publish(s: Scenario) -> None:
    payload = {"id": s.pk, "label": s.label(), "status": s.status, "start_at": s.start_at.isoformat()}
    publish_on_commit("cycle", "cycle.scenario", {**payload, "end_at": s.end_at.isoformat()})
