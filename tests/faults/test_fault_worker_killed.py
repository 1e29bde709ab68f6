"""A worker killed in the middle of a cycle (issue #12, fault acceptance), with real beat, two real
workers, the DMS gateway and its DER outstations: the worker running the cycle's EMS half is killed
(SIGKILL) while it waits for the DSOs' answers and a fresh one is started. The killed cycle is
recorded as failed at the stage it died in before the next interval is over, the next cycle
completes, and no set point is sent twice — not even when Redis hands the killed task to another
worker again (redelivery is shortened here to see it happen)."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from apps.cycle.models import Cycle, StageRun
from apps.der_registry.models import SetPoint
from apps.dms.models import DispatchRun
from crest_web.accounts.models import AuditRecord
from tests.integration.conftest import start, stop
from tests.integration.dnp3_support import until
from tests.integration.dso_support import Field, register_base

pytestmark = pytest.mark.django_db(transaction=True)
INTERVAL_S = 30.0
REDELIVER_S = 45.0  # Redis hands an unacknowledged task out again after this long
ENV = {
    "CREST_CYCLE_INTERVAL_S": str(INTERVAL_S),
    "CREST_CYCLE_ALLOW_SHORT": "1",
    "CREST_CELERY_REDELIVER_S": str(REDELIVER_S),
}


def celery_worker(name: str) -> subprocess.Popen[bytes]:
    return start("worker", "--pool", "solo", "--hostname", f"{name}@%h", "--loglevel", "WARNING", env=ENV)


@pytest.fixture
def beat() -> Iterator[subprocess.Popen[bytes]]:
    proc = start(
        "beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
        "--loglevel", "WARNING", "--schedule", "/dev/null", env=ENV,
    )  # fmt: skip
    yield proc
    stop(proc)


def test_it_records_the_killed_cycle_as_failed_and_runs_the_next(
    gateways: tuple[subprocess.Popen[str], ...], field_sim: Field, beat: subprocess.Popen[bytes]
) -> None:
    register_base()
    workers = {name: celery_worker(name) for name in ("ems-a", "ems-b")}
    try:
        # The first cycle whose EMS half is waiting for the answers: kill its worker, start another.
        assert until(
            lambda: StageRun.objects.filter(stage="ems_request", ended_at__isnull=True).exists(),
            limit_s=3 * INTERVAL_S,
        )
        killed = Cycle.objects.get(stages__stage="ems_request", stages__ended_at__isnull=True)
        name = killed.worker.partition("@")[0]
        workers[name].kill()
        workers[name].wait()
        workers[name + "-again"] = celery_worker(name + "-again")

        # Closed as failed at its stage within one interval after its own; the next one completes.
        closed_by = killed.interval_start.timestamp() + 2 * INTERVAL_S + 5
        assert until(
            lambda: Cycle.objects.get(pk=killed.pk).status == "failed", limit_s=closed_by - time.time()
        )
        assert until(
            lambda: Cycle.objects.filter(interval_start__gt=killed.interval_start, status="done").exists(),
            limit_s=3 * INTERVAL_S,
        )
        # The killed task comes back (Redis redelivers it REDELIVER_S after its first delivery) and
        # must send nothing: wait for it to have claimed its closed cycle, then a little for any send.
        assert until(
            lambda: AuditRecord.objects.filter(action="cycle.late_task", object_id=str(killed.pk)).exists(),
            limit_s=REDELIVER_S + INTERVAL_S,
        )
        time.sleep(3.0)
        # No new cycles from here; what the surviving workers were handed, they finish (a cycle
        # that opened meanwhile has its dispatch queued and must not be left there).
        stop(beat)
        assert until(
            lambda: not DispatchRun.objects.filter(status__in=["queued", "running"]).exists(),
            limit_s=INTERVAL_S,
        )
    finally:
        for proc in workers.values():
            stop(proc)

    killed.refresh_from_db()
    # Redis did hand the killed task out again; the redelivered EMS half found its cycle closed.
    assert AuditRecord.objects.filter(action="cycle.late_task", object_id=str(killed.pk)).exists()
    died = killed.stages.get(stage="ems_request")
    assert died.outcome == "failed" and "next boundary" in died.detail
    assert "EMS → DMS requests" in killed.detail
    following = Cycle.objects.filter(interval_start__gt=killed.interval_start).order_by("interval_start")[0]
    assert following.status == "done" and following.stages.filter(outcome="failed").count() == 0
    # One dispatch (and at most one re-optimization) per request, one set point per DER and run.
    per_request = Counter(
        DispatchRun.objects.filter(reoptimizes__isnull=True).values_list("ems_request_id", flat=True)
    )
    assert per_request and max(per_request.values()) == 1
    per_run = Counter(SetPoint.objects.values_list("dispatch_run_id", "der_id"))
    assert max(per_run.values()) == 1
    sends = Counter(AuditRecord.objects.filter(action="ems.dso_exchange").values_list("object_id", flat=True))
    assert max(sends.values()) == 1
