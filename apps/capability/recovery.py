"""Capability studies a dead worker left "running" or "queued" (issue #12 item 9): the same rule as
dispatch runs (apps/dms/recovery.py) — a running study holds its feeder's lock, renewed by its
worker; once the lock is gone the study was lost with the worker."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.capability.models import CapabilityStudy
from apps.dms.locks import TTL_S
from apps.dms.recovery import LOST, NOT_TAKEN, QUEUED_LIMIT_S, holds

Status = CapabilityStudy.Status


def lost_studies(now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """(study id, why) of every study its worker left unfinished."""
    now = now or timezone.now()
    old = now - dt.timedelta(seconds=TTL_S)
    lost = []
    running = CapabilityStudy.objects.filter(status=Status.RUNNING, created_at__lt=old)
    for study in running.select_related("feeder"):
        if not holds(study.feeder.name, f"capability study {study.pk}"):
            lost.append((study.pk, LOST))
    queued = CapabilityStudy.objects.filter(
        status=Status.QUEUED, created_at__lt=now - dt.timedelta(seconds=QUEUED_LIMIT_S)
    )
    lost += [(pk, NOT_TAKEN.format(QUEUED_LIMIT_S)) for pk in queued.values_list("pk", flat=True)]
    return lost
