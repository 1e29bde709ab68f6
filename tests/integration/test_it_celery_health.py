"""A real Celery worker and beat on the test PostgreSQL and Redis; /healthz reports both."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from apps.der_registry import actions
from celery_tasks.registry import sweep_telemetry
from crest_web.events import group_name
from tests.conftest import as_json
from tests.integration.conftest import start, stop

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


async def drain(layer: Any, channel: str) -> list[dict[str, Any]]:
    """Every message waiting on a channel (one event loop: channels_redis buffers per loop)."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(layer.receive(channel), 2))
        except TimeoutError:
            return out


def health(client: Client) -> dict[str, Any]:
    return as_json(client.get("/healthz"))  # type: ignore[no-any-return]


def test_it_reports_degraded_without_worker_and_beat(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = as_json(response)["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert not checks["celery_worker"]["ok"]


def test_it_runs_the_telemetry_sweep_on_a_real_worker(worker: Any, enrolled: Any) -> None:
    fresh = enrolled("active")
    actions.do_record_monitoring(None, "system", fresh.pk, {"p_kw": 4.0})
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_name("registry"), channel)
    result = sweep_telemetry.delay().get(timeout=60)
    assert result == {"stale": 0, "checked": 1}
    fresh.latest.t = timezone.now() - dt.timedelta(hours=1)
    fresh.latest.save()
    assert sweep_telemetry.delay().get(timeout=60) == {"stale": 1, "checked": 1}
    messages = async_to_sync(drain)(layer, channel)
    assert [m["payload"]["stale"] for m in messages] == [0, 1]
    assert messages[1]["payload"]["stale_ids"] == [fresh.pk]


def test_it_reports_healthy_with_worker_and_beat_running(worker: Any, client: Client) -> None:
    beat = start(
        "beat",
        "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "--loglevel",
        "WARNING",
        "--schedule",
        "/dev/null",
    )
    try:
        report = wait_for(lambda: (h := health(client))["status"] == "ok" and h, timeout_s=60)
    finally:
        stop(beat)
    assert report, health(client)
    assert report["checks"]["celery_worker"]["workers"][0].startswith("test-worker@")
    assert report["checks"]["celery_beat"]["last_heartbeat_age_s"] < 30
