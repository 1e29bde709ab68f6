from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

from apps.capability.actions import do_finish_study
from apps.capability.recovery import lost_studies
from apps.dms.actions import do_fail_dispatch
from apps.dms.recovery import lost_dispatch_runs
from crest_web import task_names
from crest_web.health import BEAT_HEARTBEAT_KEY


@shared_task(name=task_names.HEARTBEAT, ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat, run by a worker: /healthz reads its age to tell that both are alive."""
    redis.Redis.from_url(settings.REDIS_URL).set(BEAT_HEARTBEAT_KEY, str(time.time()), ex=24 * 3600)


@shared_task(name=task_names.RECOVER_LOST_WORK, ignore_result=True)
def recover_lost_work() -> int:
    """Fail the dispatch runs and capability studies a dead worker left running or queued
    (apps/dms/recovery.py); how many. Cycles are closed by the cycle's own tick."""
    lost = lost_dispatch_runs()
    for run_id, why in lost:
        do_fail_dispatch(run_id, why)
    studies = lost_studies()
    for study_id, why in studies:
        do_finish_study(study_id, {}, {}, 0.0, error=why)
    return len(lost) + len(studies)
