"""/healthz: is every part of the system up? Open to load balancers; reveals only up/down."""

from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

BEAT_HEARTBEAT_KEY = "crest:beat:heartbeat"


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _check_redis() -> dict[str, Any]:
    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    return {"ok": True}


def _check_worker() -> dict[str, Any]:
    from crest_web.celery import app

    replies = app.control.ping(timeout=1.0) or []
    return {"ok": bool(replies), "workers": sorted(name for reply in replies for name in reply)}


def _check_beat() -> dict[str, Any]:
    raw = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).get(BEAT_HEARTBEAT_KEY)
    if raw is None:
        return {"ok": False, "detail": "no heartbeat from Celery beat yet"}
    age_s = time.time() - float(raw)
    return {"ok": age_s < 3 * settings.CREST_BEAT_HEARTBEAT_S, "last_heartbeat_age_s": round(age_s, 1)}


def _check_lost_work() -> dict[str, Any]:
    """Work a dead worker left "running": the recovery task fails it within a minute; if some stays
    here, that task (or beat, or every worker) is not running."""
    from apps.capability.recovery import lost_studies
    from apps.cycle.actions import overrun_cycles
    from apps.dms.recovery import lost_dispatch_runs

    lost = {
        "dispatch_runs": len(lost_dispatch_runs()),
        "capability_studies": len(lost_studies()),
        "cycles": len(overrun_cycles()),
    }
    return {"ok": not any(lost.values()), **lost}


CHECKS = {
    "database": _check_database,
    "redis": _check_redis,
    "celery_worker": _check_worker,
    "celery_beat": _check_beat,
    "lost_work": _check_lost_work,
}


@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
    healthy = all(r["ok"] for r in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": results}, status=200 if healthy else 503
    )
