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
from apps.cycle.models import Cycle, CycleControl, StageRun
from crest_web import task_names
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit
from crest_web.task_queue import enqueue_on_commit


class CycleError(ValueError):
    """A request about the cycle refused; the message says why."""


class CycleClosed(CycleError):
    """The cycle was closed (failed at the next boundary): its late work records nothing more."""


# A cycle still running this share of an interval after its own interval ended is closed as failed
# at the stage it is in (docs/operations.md, "A cycle that overruns"): its worker died, or a stage
# hung. The share leaves room for answers that come in on the interval's last second.
OVERRUN_GRACE = 0.1


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
    if cycle.status != Cycle.Status.RUNNING:
        raise CycleClosed(f"The cycle of {cycle.interval_start:%H:%M:%S} UTC is closed ({cycle.status}).")
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


def overrun_cycles(now: dt.datetime | None = None) -> list[int]:
    """Cycles still running `OVERRUN_GRACE` of an interval after their interval ended."""
    now = now or timezone.now()
    return [
        c.pk
        for c in Cycle.objects.filter(status=Cycle.Status.RUNNING)
        if c.interval_start + dt.timedelta(seconds=c.interval_s * (1 + OVERRUN_GRACE)) <= now
    ]


def do_close_overrun_cycles(now: dt.datetime) -> list[int]:
    """Close as failed every overrun cycle at the stage(s) it was in; the ids closed."""
    return [_close_overrun(pk, now) for pk in overrun_cycles(now)]


@transaction.atomic
def _close_overrun(cycle_id: int, now: dt.datetime) -> int:
    open_stages = StageRun.objects.select_for_update().filter(cycle_id=cycle_id, ended_at__isnull=True)
    names = [STAGE_LABELS[Stage(s.stage)] + (f" ({s.scope})" if s.scope else "") for s in open_stages]
    why = "still running at the next boundary: its worker stopped or a stage hung"
    for stage in open_stages:
        do_end_stage(stage.pk, failed=True, detail=why, ended_at=now)
    where = f" at {', '.join(names)}" if names else " between stages"
    do_end_cycle(cycle_id, failed=True, detail=f"Failed{where}: {why}.")
    return cycle_id


@transaction.atomic
def do_claim_cycle(cycle_id: int, worker: str) -> Cycle:
    """The worker that runs (or, after a redelivery, takes over) the cycle's EMS half. A task that
    comes back for a cycle already closed is recorded and does nothing more."""
    cycle = Cycle.objects.select_for_update().get(pk=cycle_id)
    if cycle.status != Cycle.Status.RUNNING:
        audit.record(
            None, "worker", "cycle.late_task", cycle, after={"worker": worker, "status": cycle.status}
        )
    elif cycle.worker != worker:
        audit.record(
            None, "worker", "cycle.claim", cycle, before={"worker": cycle.worker}, after={"worker": worker}
        )
        cycle.worker = worker[:120]
        cycle.save(update_fields=["worker"])
    return cycle


def do_alarm_ems_fallback(cycle_id: int, older: list[str]) -> None:
    """ "Fallback active" for each DSO interface (by name) whose range the OPF took from before the
    previous interval (seed 000 §4.2); cleared for the others."""
    from apps.ems.models import DsoEndpoint

    cycle = Cycle.objects.get(pk=cycle_id)
    for endpoint in DsoEndpoint.objects.all():
        source = {"kind": Alarm.Kind.FALLBACK, "source_type": "dso", "source_id": f"{endpoint.bus}:ems"}
        if endpoint.name not in older:
            do_clear_alarm(None, "cycle", **source, note=f"cycle {cycle.pk} had its range")
            continue
        since = (
            f"its range of {endpoint.range_reported_at:%H:%M:%S} UTC"
            if endpoint.range_reported_at
            else "its registered range (it never reported one)"
        )
        message = (
            f"DSO {endpoint.name} at bus {endpoint.bus} gave no range in the previous interval: the "
            f"cycle of {cycle.interval_start:%H:%M:%S} UTC solved with {since}."
        )
        do_raise_alarm(None, "cycle", **source, message=message, source_label=f"DSO {endpoint.name}")


# --- controls (issue #12 item 6) ---------------------------------------------------------------------


def control() -> CycleControl:
    """How the cycles run now (unsaved defaults from the settings when no admin has set them)."""
    found = CycleControl.objects.filter(pk=1).first()
    return found or CycleControl(pk=1, interval_s=settings.CREST_CYCLE_INTERVAL_S, paused=False)


@transaction.atomic
def do_set_interval(actor: Actor, source: str, interval_s: object) -> CycleControl:
    """The interval beat follows from its next tick on; CycleError (nothing changed) if not allowed."""
    try:
        seconds = float(interval_s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    problem = check_interval(seconds, settings.CREST_CYCLE_ALLOW_SHORT)
    if problem:
        raise CycleError(problem)
    return _save_control(actor, source, "cycle.interval", interval_s=seconds)


@transaction.atomic
def do_pause_cycles(actor: Actor, source: str, paused: bool) -> CycleControl:
    """Pause (or resume) automatic cycles; a cycle running now finishes."""
    if control().paused == paused:
        raise CycleError(
            "Automatic cycles are paused already." if paused else "Automatic cycles are running already."
        )
    return _save_control(actor, source, "cycle.pause" if paused else "cycle.resume", paused=paused)


def _save_control(actor: Actor, source: str, action: str, **changes: object) -> CycleControl:
    row = CycleControl.objects.select_for_update().filter(pk=1).first() or control()
    before = {"interval_s": row.interval_s, "paused": row.paused}
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_by = actor if actor is not None and actor.is_authenticated else None
    row.save()
    after = {"interval_s": row.interval_s, "paused": row.paused}
    audit.record(actor, source, action, row, before=before, after=after)
    publish_on_commit("cycle", "cycle.control", after)
    return row


@transaction.atomic
def do_run_now(actor: Actor, source: str, at: dt.datetime) -> Cycle:
    """Open the current interval's cycle by hand (its EMS half is queued); CycleError when a cycle is
    running or this interval has had its cycle."""
    running = Cycle.objects.filter(status=Cycle.Status.RUNNING).first()
    if running is not None:
        raise CycleError(
            f"The cycle of {running.interval_start:%H:%M:%S} UTC is still running; "
            "wait for it to end before running another."
        )
    interval_s = control().interval_s
    cycle, opened = do_open_cycle(actor, source, at=at, interval_s=interval_s, trigger="manual")
    if not opened:
        nxt = cycle.interval_start + dt.timedelta(seconds=interval_s)
        when = (
            f"you can run one from {nxt:%H:%M:%S} UTC (automatic cycles are paused)"
            if control().paused
            else f"the next one starts at {nxt:%H:%M:%S} UTC"
        )
        raise CycleError(
            f"This interval had its cycle already ({cycle.get_status_display().lower()}, "
            f"{cycle.get_trigger_display().lower()}); {when}."
        )
    enqueue_on_commit(task_names.CYCLE_EMS_HALF, cycle.pk)
    return cycle
