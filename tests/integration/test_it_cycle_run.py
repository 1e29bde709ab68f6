"""One coordination cycle after another over the real DNP3 EMS–DMS link (issue #12 items 2–4, the
EMS half): `manage.py run_cycle` opens the interval's cycle, collects the registered DSO interfaces,
solves the OPF within each DSO's range, sends the requests to the DMS gateway (its dispatch runs on a
real Celery worker) and records the answers. Every stage it ran has a duration and a budget, and the
next cycle's OPF uses the range the DSO reported in the previous one."""

from __future__ import annotations

import io
import itertools
import json
import time
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.cycle.engine.schedule import Stage, seconds_to_next
from apps.cycle.models import Cycle, StageRun
from apps.dms.models import DispatchRun
from apps.ems.models import OpfRun
from tests.integration.dso_support import COUNT, register_base

pytestmark = pytest.mark.django_db(transaction=True)
INTERVAL_S = 30.0  # short intervals are allowed outside production (CREST_CYCLE_ALLOW_SHORT)


def run_cycle() -> dict[str, Any]:
    out = io.StringIO()
    call_command("run_cycle", "--interval", str(INTERVAL_S), "--json", stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def next_interval() -> None:
    time.sleep(seconds_to_next(time.time(), INTERVAL_S) + 0.2)


@pytest.mark.usefixtures("worker", "gateways")
def test_it_runs_consecutive_cycles_each_on_the_previous_ones_limits() -> None:
    register_base()
    if seconds_to_next(time.time(), INTERVAL_S) < 20:  # a cycle takes a few seconds here
        next_interval()
    docs = []
    for k in range(3):
        docs.append(run_cycle())
        with pytest.raises(CommandError, match="has its cycle already"):
            run_cycle()  # the same interval: no second cycle, nothing sent twice
        if k < 2:
            next_interval()

    cycles = list(Cycle.objects.order_by("interval_start"))
    assert len(cycles) == 3 and [c.status for c in cycles] == ["done"] * 3
    starts = [c.interval_start.timestamp() for c in cycles]
    assert all(s % INTERVAL_S == 0 for s in starts) and starts[1] - starts[0] >= INTERVAL_S
    for cycle, doc in zip(cycles, docs, strict=True):
        stages = {(s["stage"], s["scope"]): s for s in doc["stages"]}
        assert list(stages)[:3] == [("collect", ""), ("ems_opf", ""), ("ems_request", "")]
        for s in stages.values():
            assert s["duration_s"] is not None and s["duration_s"] >= 0
            assert s["budget_s"] > 0 and s["outcome"] in ("ok", "late", "fallback", "skipped")
        assert "2 DSOs asked, 2 answered" in stages[("ems_request", "")]["detail"]
        assert len(doc["opf_runs"]) == 1
        # The DMS's dispatch of this cycle's request points at the cycle, its solve timed per feeder.
        (dispatched,) = DispatchRun.objects.filter(cycle=cycle)
        assert doc["dispatch_runs"] == [dispatched.pk] and dispatched.feeder.name == "feedera"
        assert dispatched.ems_request_id == OpfRun.objects.get(cycle=cycle).messages.get(bus=5).pk
        stage1 = stages[("dms_stage1", "feeder:feedera")]
        timings = dispatched.result["timings_ms"]
        wanted_s = (timings["model_ms"] + timings["stage1_ms"]) / 1000
        assert stage1["duration_s"] == pytest.approx(wanted_s, abs=2e-3)
        reopt = stages[("dms_reopt", "feeder:feedera")]
        assert (reopt["outcome"] == "skipped") == (not dispatched.stage2_ran)
        # The DMS answered after its DERs confirmed: every stage of the cycle has a time and budget.
        assert {s for s, _ in stages} == {s.value for s in Stage}
        messaging = stages[("der_messaging", "feeder:feedera")]
        assert "10 set point(s) confirmed" in messaging["detail"]
        assert dispatched.result["delivery"]["confirmed"] == 10
    assert StageRun.objects.filter(stage="ems_opf").count() == 3

    # Cycle 1 had no range reported yet; each later OPF uses the range of the cycle before it. The
    # DSO without DERs never reports one, so every cycle says it solved without its range.
    runs = [OpfRun.objects.get(cycle=c) for c in cycles]
    collected = [next(s for s in doc["stages"] if s["stage"] == "collect")["detail"] for doc in docs]
    assert "dso-a" in collected[0] and "dso-bare" in collected[0]
    assert all("dso-a" not in c and "dso-bare" in c for c in collected[1:])
    assert all(c.ems_fallback for c in cycles)
    for before, after in itertools.pairwise(runs):
        sent = before.messages.get(bus=5)
        used = next(d for d in after.inputs["dsos"] if d["bus"] == 5)
        assert sent.q_min_next_kvar is not None and sent.q_max_next_kvar is not None
        assert (used["q_min_kvar"], used["q_max_kvar"]) == (
            pytest.approx(sent.q_min_next_kvar, abs=1e-9),
            pytest.approx(sent.q_max_next_kvar, abs=1e-9),
        )
        assert used["count"] == COUNT
    assert DispatchRun.objects.filter(feeder__name="feedera", trigger="ems").count() == 3  # one per cycle
