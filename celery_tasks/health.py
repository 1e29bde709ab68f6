from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

from crest_web import task_names
from crest_web.health import BEAT_HEARTBEAT_KEY


@shared_task(name=task_names.HEARTBEAT, ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat, run by a worker: /healthz reads its age to tell that both are alive."""
    redis.Redis.from_url(settings.REDIS_URL).set(BEAT_HEARTBEAT_KEY, str(time.time()), ex=24 * 3600)
