"""Alarm housekeeping on a schedule: timed shelves end on time, whether or not a page is open."""

from __future__ import annotations

from celery import shared_task

from apps.alarms.actions import do_expire_shelves
from crest_web import task_names


@shared_task(name=task_names.ALARMS_EXPIRE_SHELVES, ignore_result=True)
def expire_shelves() -> int:
    return do_expire_shelves()
