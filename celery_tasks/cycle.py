"""The coordination cycle on the workers. Beat ticks often; a tick opens the current interval's cycle
once (a database constraint makes a redelivered or duplicated tick a no-op) and queues its EMS half,
so cycles start within one tick of the wall-clock boundary and follow the configured interval."""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from apps.cycle import actions
from apps.cycle.runner import CycleOptions, run_ems_half
from apps.ems.sending import configured_tls_dir
from crest_web import task_names
from crest_web.task_queue import enqueue_on_commit


@shared_task(name=task_names.CYCLE_TICK, ignore_result=True)
def tick() -> int | None:
    """Close a cycle that overran into the next interval; open this interval's cycle if it has none;
    its id when this tick opened it."""
    now = timezone.now()
    actions.do_close_overrun_cycles(now)
    control = actions.control()
    if control.paused:
        return None
    cycle, opened = actions.do_open_cycle(None, "beat", at=now, interval_s=control.interval_s, trigger="beat")
    if not opened:
        return None
    enqueue_on_commit(task_names.CYCLE_EMS_HALF, cycle.pk)  # do_open_cycle committed already
    return cycle.pk


@shared_task(name=task_names.CYCLE_EMS_HALF, bind=True)
def ems_half(self: Task, cycle_id: int) -> str:
    """Collect, OPF, requests and answers of one cycle (apps/cycle/runner.py)."""
    actions.do_claim_cycle(cycle_id, self.request.hostname or "")
    cycle = run_ems_half(cycle_id, CycleOptions(settings.CREST_CYCLE_CASE, configured_tls_dir()))
    return f"{cycle.status}: {cycle.detail}"
