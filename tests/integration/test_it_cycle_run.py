"""One coordination cycle after another over the real DNP3 EMS–DMS link (issue #12 items 2–4, the
EMS half): `manage.py run_cycle` opens the interval's cycle, collects the registered DSO interfaces,
solves the OPF within each DSO's range, sends the requests to the DMS gateway (its dispatch runs on a
real Celery worker) and records the answers. Every stage it ran has a duration and a budget, and the
next cycle's OPF uses the range the DSO reported in the previous one. Collect reads each DSO's
substation meter over the link (the OPF solves at that operating point; the DMS allocates its loads to
it) and, the first time, asks every DMS for its capability before the OPF solves."""

from __future__ import annotations

import io
import itertools
import json
import time
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.cycle.engine.schedule import Stage, seconds_to_next
from apps.cycle.models import Cycle, StageRun
from apps.dms.dso_meter import METER_EVERY_S
from apps.dms.head import do_record_head_measurement
from apps.dms.models import CapabilityReport, DispatchRun, Feeder
from apps.ems.models import DsoEndpoint, OpfRun
from tests.integration.dso_support import COUNT, present, register_base

pytestmark = pytest.mark.django_db(transaction=True)
INTERVAL_S = 30.0  # short intervals are allowed outside production (CREST_CYCLE_ALLOW_SHORT)
WIRE_KVAR = 0.1 / COUNT  # the link carries totals in tenths of a kW / kvar


def run_cycle() -> dict[str, Any]:
    out = io.StringIO()
    call_command("run_cycle", "--interval", str(INTERVAL_S), "--json", stdout=out)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def runs_used_p(cycle: Cycle) -> float:
    used = next(d for d in OpfRun.objects.get(cycle=cycle).inputs["dsos"] if d["bus"] == 5)
    return float(used["p_kw"])


def next_interval() -> None:
    time.sleep(seconds_to_next(time.time(), INTERVAL_S) + 0.2)


@pytest.mark.usefixtures("worker", "gateways")
def test_it_runs_consecutive_cycles_each_on_the_previous_ones_limits(operator_client: Client) -> None:
    register_base()
    base_q = DsoEndpoint.objects.get(bus=5).q_base_kvar
    p_now, q_now = present(Feeder.objects.get(name="feedera"))
    meter = {"p_kw": 1.1 * p_now, "q_kvar": 0.9 * q_now, "v_pu": 1.01}  # SCADA: more load than modelled
    if seconds_to_next(time.time(), INTERVAL_S) < 20:  # a cycle takes a few seconds here
        next_interval()
    docs = []
    for k in range(3):
        do_record_head_measurement(None, "test", "feedera", meter)  # a fresh reading every cycle
        time.sleep(METER_EVERY_S + 0.5)  # the gateway publishes a newer reading within a second
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
        assert dispatched.interval_s == INTERVAL_S  # the EMS's interval: telemetry ages are judged by it
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

    # Collect read the meter of dso-a (the DSO without DERs has none): every OPF solved at it.
    runs = [OpfRun.objects.get(cycle=c) for c in cycles]
    collected = [next(s for s in doc["stages"] if s["stage"] == "collect")["detail"] for doc in docs]
    assert all("2 DSO interfaces, 1 metered" in c for c in collected)
    for run in runs:
        used = next(d for d in run.inputs["dsos"] if d["bus"] == 5)
        assert used["p_kw"] == pytest.approx(meter["p_kw"], abs=WIRE_KVAR)
        assert used["q_kvar"] == pytest.approx(meter["q_kvar"], abs=WIRE_KVAR)
    # The DMS allocated its loads to the same reading before each dispatch.
    for run in DispatchRun.objects.filter(cycle__in=cycles):
        allocation = run.result["load_allocation"]
        assert allocation["matched"] and allocation["measured_p_kw"] == pytest.approx(meter["p_kw"])
        assert allocation["model_p_kw"] == pytest.approx(meter["p_kw"], rel=1e-3)
        assert allocation["model_q_kvar"] == pytest.approx(meter["q_kvar"], rel=1e-3, abs=1.0)
        page = operator_client.get(f"/feeders/feedera/dispatch/{run.pk}/").content.decode()
        assert "Load allocation" in page and f"P {meter['p_kw']:.1f} kW" in page
    page = operator_client.get(f"/cycles/{cycles[0].pk}/").content.decode()  # the operator sees it
    assert "Operating point P, Q" in page and f"{runs_used_p(cycles[0]):.1f} kW" in page
    # Cycle 1 had no range yet: collect asked both DMSs for their capability first, so no OPF solved
    # without one. The DSO without DERs never reports a range in its answers: it is asked again once
    # the range it gave on the last ask is older than the previous interval (cycle 3, not cycle 2).
    assert "capability asked first from dso-a, dso-bare" in collected[0]
    assert "capability asked" not in collected[1]
    assert "capability asked first from dso-bare" in collected[2]
    assert not any(c.ems_fallback for c in cycles) and "no range" not in " ".join(collected)
    first = next(d for d in runs[0].inputs["dsos"] if d["bus"] == 5)
    asked = CapabilityReport.objects.get(feeder__name="feedera", interval_id=cycles[0].pk)
    assert asked.q_min_kvar is not None and asked.q_max_kvar is not None
    assert asked.q_min_kvar < asked.q_max_kvar  # ten PV inverters can move the substation Q
    # Injected = base − drawn, at the measured base: the ends swap.
    assert first["q_min_kvar"] == pytest.approx(meter["q_kvar"] - asked.q_max_kvar, abs=WIRE_KVAR)
    assert first["q_max_kvar"] == pytest.approx(meter["q_kvar"] - asked.q_min_kvar, abs=WIRE_KVAR)
    # Each later OPF uses the range of the cycle before it, at this cycle's measured base: the same
    # absolute substation Q limits, so the injected range moves by the base's difference.
    assert base_q is not None
    for before, after in itertools.pairwise(runs):
        sent = before.messages.get(bus=5)
        used = next(d for d in after.inputs["dsos"] if d["bus"] == 5)
        assert sent.q_min_next_kvar is not None and sent.q_max_next_kvar is not None
        shift = used["q_kvar"] - sent.q_base_kvar
        assert (used["q_min_kvar"], used["q_max_kvar"]) == (
            pytest.approx(sent.q_min_next_kvar + shift, abs=1e-9),
            pytest.approx(sent.q_max_next_kvar + shift, abs=1e-9),
        )
        assert used["count"] == COUNT
    assert DispatchRun.objects.filter(feeder__name="feedera", trigger="ems").count() == 3  # one per cycle
