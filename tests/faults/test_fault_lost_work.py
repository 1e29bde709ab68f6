"""A worker killed in the middle of a capability study (issue #12 item 9): the study used to stay
"running" for good while /healthz said all was well. Now /healthz reports the lost work once the
dead worker's feeder lock has expired, and the recovery task (run by beat on a fresh worker) fails
the study with the reason; a dispatch run left the same way is failed too, a finished one is not."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.capability import actions
from apps.capability.models import CapabilityStudy
from apps.dms.actions import do_request_dispatch
from apps.dms.locks import TTL_S
from apps.dms.models import DispatchRun
from tests.integration.conftest import start, stop
from tests.integration.dnp3_support import until

pytestmark = pytest.mark.django_db(transaction=True)


def worker() -> Any:
    return start("worker", "--pool", "solo", "--hostname", "study-worker@%h", "--loglevel", "WARNING")


def beat() -> Any:
    return start(
        "beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
        "--loglevel", "WARNING", "--schedule", "/dev/null",
    )  # fmt: skip


def lost_work(client: Client) -> dict[str, Any]:
    report: dict[str, Any] = client.get("/healthz").json()["checks"]["lost_work"]
    return report


def test_it_fails_a_study_whose_worker_was_killed(admin_user: User, ieee13: Any, client: Client) -> None:
    call_command("add_pv", "ieee13", "--count", "30", "--seed", "5", stdout=io.StringIO())
    dead = DispatchRun.objects.get(
        pk=do_request_dispatch(None, "test", "ieee13", q_kvar=100.0, v_sub_pu=1.0, enqueue=False).pk
    )
    long_ago = timezone.now() - dt.timedelta(seconds=2 * TTL_S)
    DispatchRun.objects.filter(pk=dead.pk).update(status="running", locked_at=long_ago, worker="gone")
    study = actions.do_start_study(admin_user, "web", "ieee13", headroom="0:1:0.005")
    first = worker()
    try:
        assert until(lambda: CapabilityStudy.objects.get(pk=study.pk).progress > 0, limit_s=120)
    finally:
        first.kill()  # SIGKILL: no clean-up, the lock's renewals just stop
        first.wait()
    assert CapabilityStudy.objects.get(pk=study.pk).status == "running"
    # Once the lock has expired, the health check sees the lost work.
    assert until(lambda: lost_work(client)["capability_studies"] == 1, limit_s=3 * TTL_S)
    assert lost_work(client)["dispatch_runs"] == 1 and lost_work(client)["ok"] is False

    second, scheduler = worker(), beat()
    try:
        assert until(lambda: CapabilityStudy.objects.get(pk=study.pk).status == "failed", limit_s=60)
        assert until(lambda: DispatchRun.objects.get(pk=dead.pk).status == "failed", limit_s=30)
        report = lost_work(client)
    finally:
        stop(scheduler)
        stop(second)
    study.refresh_from_db()
    assert "worker running it stopped" in study.error
    assert "worker running it stopped" in DispatchRun.objects.get(pk=dead.pk).error
    assert report == {"ok": True, "dispatch_runs": 0, "capability_studies": 0, "cycles": 0}
    assert not CapabilityStudy.objects.filter(status__in=["queued", "running"]).exists()
