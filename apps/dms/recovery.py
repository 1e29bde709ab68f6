"""Work a dead worker left behind (issue #12 item 9). A dispatch run or capability study holds its
feeder's interlocking lock while it runs (apps/dms/locks.py), renewed by a thread of its worker;
when the worker dies the renewals stop and the lock expires within `TTL_S`. A run still marked
running whose lock is gone (or held by something else) was lost with its worker. A queued one that
no worker took while a task may wait for a busy feeder is lost too. The Celery task
`crest.health.recover` fails them with the reason, so no screen shows "running" for good."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.dms.locks import TTL_S, WAIT_S, holder
from apps.dms.models import DispatchRun

# A queued run older than this was not taken: a task waits at most WAIT_S for a busy feeder.
QUEUED_LIMIT_S = WAIT_S + 2 * TTL_S
LOST = "The worker running it stopped (its feeder lock was not renewed); nothing more will come of it."
NOT_TAKEN = "No worker took it within {:g} s; nothing more will come of it."


def holds(feeder: str, what: str) -> bool:
    """Whether the holder of `feeder`'s lock is `what` ("dispatch run 12", "capability study 3")."""
    now = holder(feeder) or ""
    return now == what or now.startswith(f"{what} ")


def lost_dispatch_runs(now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """(run id, why) of every dispatch run its worker left unfinished."""
    now = now or timezone.now()
    lost = []
    running = DispatchRun.objects.filter(
        status=DispatchRun.Status.RUNNING, locked_at__lt=now - dt.timedelta(seconds=TTL_S)
    ).select_related("feeder")
    for run in running:
        if not holds(run.feeder.name, f"dispatch run {run.pk}"):
            lost.append((run.pk, LOST))
    queued = DispatchRun.objects.filter(
        status=DispatchRun.Status.QUEUED, created_at__lt=now - dt.timedelta(seconds=QUEUED_LIMIT_S)
    )
    lost += [(pk, NOT_TAKEN.format(QUEUED_LIMIT_S)) for pk in queued.values_list("pk", flat=True)]
    return lost
