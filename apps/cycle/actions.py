"""Every state change of the coordination cycle's record. Each do_* owns its transaction, writes the
audit record and publishes on topic "cycle" after commit. Opening a cycle and starting a stage are
idempotent (database constraints), so a redelivered beat tick or task finds the row it made."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.alarms.models import Alarm
from apps.cycle.documents import cycle_summary, stage_doc
from apps.cycle.engine.schedule import (
    STAGE_LABELS,
    Stage,
    Timing,
    budgets_s,
    check_interval,
    interval_index,
    interval_start_s,
    outcome,
)
from apps.cycle.models import Cycle, StageRun
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit


class CycleError(ValueError):
    """A request about the cycle refused; the message says why."""


@transaction.atomic
def do_open_cycle(
    actor: Actor, source: str, *, at: dt.datetime, interval_s: float, trigger: str
) -> tuple[Cycle, bool]:
    """The cycle of the interval `at` falls in, and whether this call opened it."""
    problem = check_interval(interval_s, settings.CREST_CYCLE_ALLOW_SHORT)
    if problem:
        raise CycleError(problem)
    if trigger not in Cycle.Trigger.values:
        raise CycleError(f"Unknown trigger {trigger!r}; known: {', '.join(Cycle.Trigger.values)}.")
    start_s = interval_start_s(interval_index(at.timestamp(), interval_s), interval_s)
    start = dt.datetime.fromtimestamp(start_s, dt.UTC)
    existing = Cycle.objects.filter(interval_start=start).first()
    if existing is not None:
        return existing, False
    user = actor if actor is not None and actor.is_authenticated else None
    try:
        with transaction.atomic():
            cycle = Cycle.objects.create(
                interval_start=start, interval_s=interval_s, trigger=trigger, requested_by=user
            )
    except IntegrityError:  # opened by a concurrent tick in between: theirs is the one
        return Cycle.objects.get(interval_start=start), False
    audit.record(actor, source, "cycle.open", cycle, after=cycle_summary(cycle))
    publish_on_commit("cycle", "cycle.opened", cycle_summary(cycle))
    return cycle, True


@transaction.atomic
def do_start_stage(
    cycle_id: int, stage: Stage, scope: str = "", started_at: dt.datetime | None = None
) -> tuple[StageRun, bool]:
    """The stage's record for this cycle and scope, started now (or at `started_at`, when it was
    timed elsewhere); an existing one is returned as it is (False), so work already done for it is
    not done again."""
    cycle = Cycle.objects.get(pk=cycle_id)
    existing = StageRun.objects.filter(cycle=cycle, stage=stage, scope=scope).first()
    if existing is not None:
        return existing, False
    budget = budgets_s(cycle.interval_s)[stage]
    try:
        with transaction.atomic():
            run = StageRun.objects.create(
                cycle=cycle,
                stage=stage,
                scope=scope[:40],
                started_at=started_at or timezone.now(),
                budget_s=budget,
            )
    except IntegrityError:
        return StageRun.objects.get(cycle=cycle, stage=stage, scope=scope), False
    publish_on_commit("cycle", "stage.started", stage_doc(run))
    return run, True


@transaction.atomic
def do_end_stage(
    stage_run_id: int,
    *,
    failed: bool = False,
    skipped: bool = False,
    fallback: bool = False,
    detail: str = "",
    ended_at: dt.datetime | None = None,
) -> StageRun:
    """Record the stage's end (now, or `ended_at` when the work ended earlier than it is recorded),
    duration and outcome against its budget; an ended stage stays as it was recorded."""
    run = StageRun.objects.select_for_update().get(pk=stage_run_id)
    if run.ended_at is not None:
        return run
    run.ended_at = max(ended_at or timezone.now(), run.started_at)
    run.duration_s = (run.ended_at - run.started_at).total_seconds()
    timing = Timing(run.duration_s, run.budget_s)
    run.outcome = outcome(timing, failed=failed, skipped=skipped, fallback=fallback)
    run.detail = detail[:300]
    run.save(update_fields=["ended_at", "duration_s", "outcome", "detail"])
    _alarm_overrun(run)
    publish_on_commit("cycle", "stage.ended", stage_doc(run))
    return run


def _alarm_overrun(run: StageRun) -> None:
    """A stage over its budget raises "Stage overrun" for that stage and scope; in time, it clears."""
    source = {"source_type": "stage", "source_id": f"{run.stage}:{run.scope}"[:64]}
    if run.outcome == "ok":
        do_clear_alarm(None, "cycle", kind=Alarm.Kind.OVERRUN, **source, note=f"cycle {run.cycle_id}")
    elif run.outcome == "late":
        label = STAGE_LABELS[Stage(run.stage)]
        where = f" ({run.scope})" if run.scope else ""
        message = (
            f"{label}{where} took {run.duration_s:.0f} s of its {run.budget_s:.0f} s budget "
            f"in the cycle of {run.cycle.interval_start:%H:%M:%S} UTC."
        )
        do_raise_alarm(None, "cycle", kind=Alarm.Kind.OVERRUN, **source, message=message,
                       source_label=f"{label}{where}"[:120])  # fmt: skip


def do_record_stage(
    cycle_id: int,
    stage: Stage,
    scope: str,
    *,
    started_at: dt.datetime,
    duration_s: float,
    skipped: bool = False,
    detail: str = "",
) -> StageRun:
    """A stage timed elsewhere (the DMS's own measurement of its solve), recorded whole; a stage
    already recorded for this cycle and scope stays as it was."""
    run, new = do_start_stage(cycle_id, stage, scope, started_at)
    if not new:
        return run
    ended = started_at + dt.timedelta(seconds=max(duration_s, 0.0))
    return do_end_stage(run.pk, skipped=skipped, detail=detail, ended_at=ended)


@transaction.atomic
def do_end_cycle(cycle_id: int, *, failed: bool = False, detail: str = "") -> Cycle:
    """Close the cycle: failed, or done; a closed cycle stays as it was recorded."""
    cycle = Cycle.objects.select_for_update().get(pk=cycle_id)
    if cycle.status != Cycle.Status.RUNNING:
        return cycle
    cycle.status = Cycle.Status.FAILED if failed else Cycle.Status.DONE
    cycle.ended_at, cycle.detail = timezone.now(), detail[:300]
    cycle.save(update_fields=["status", "ended_at", "detail"])
    source = {"kind": Alarm.Kind.CYCLE_FAILED, "source_type": "cycle", "source_id": "ems"}
    if failed:
        message = f"The cycle of {cycle.interval_start:%H:%M:%S} UTC failed: {detail}"[:300]
        do_raise_alarm(None, "cycle", **source, message=message, source_label="coordination cycle")
    else:
        do_clear_alarm(None, "cycle", **source, note=f"cycle {cycle.pk} done")
    audit.record(None, "cycle", "cycle.end", cycle, after=cycle_summary(cycle))
    publish_on_commit("cycle", "cycle.ended", cycle_summary(cycle))
    return cycle
