"""One request dispatched again and again under the same conditions (issue #11, item 1): the scheduler
repeats the last request and the EMS sends one every interval, while the units follow each answer and
report back. Each run must give the same set points and report the same curtailment — what the PV
could give less its P limits — not curtail below the last run's limits until the PV sits at zero."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from django.utils import timezone

from apps.der_registry import actions as registry
from apps.der_registry.models import DER, SetPoint
from apps.der_registry.models.sep2 import Sep2EndDevice
from apps.dms import actions
from apps.dms.models import DispatchRun, Feeder
from apps.ems.models import DsoMessage
from celery_tasks.dispatch import run_dispatch

# the EMS link's fixtures and helpers: gateways for a feeder with PV and one without
from tests.integration.dso_support import opf_run, present
from tests.integration.test_it_dispatch import present_q_kvar, wait_for, with_pv
from tests.integration.test_it_ems_dms_cycle import send

pytestmark = pytest.mark.django_db(transaction=True)
SUN = 0.6  # what the PV gives now, of its rating: the same in every run


def follow_setpoints(feeder: Feeder) -> None:
    """The field after a dispatch: each unit gives the PV the sun offers up to its P limit, Q at its
    set point first (P trimmed to stay inside the kVA), and reports that as its output."""
    for der in DER.objects.filter(feeder=feeder):
        sp = SetPoint.objects.filter(der=der, source="dms_dispatch").order_by("-issued_at", "-id").first()
        sun_kw = SUN * der.np_active_power_kw
        p_kw, q_kvar = sun_kw, 0.0
        if sp is not None and sp.p_limit_kw is not None and sp.q_kvar is not None:
            q_kvar = sp.q_kvar
            room_kw = math.sqrt(max(der.np_apparent_power_kva**2 - q_kvar**2, 0.0))
            p_kw = min(sun_kw, sp.p_limit_kw, room_kw)
        registry.do_record_monitoring(
            None, "test", der.pk, {"p_kw": p_kw, "q_kvar": q_kvar, "connection_status": "connected"}
        )


def answer(run: DispatchRun) -> tuple[list[tuple[str, float, float]], float]:
    """A finished run's set points (name, P limit, Q) and its reported PV curtailment."""
    assert run.status == "done", run.error
    setpoints = [(s["name"], s["p_limit_kw"], s["q_kvar"]) for s in run.result["setpoints"]]
    return setpoints, run.result["pv_curtailment_kw"]


def test_it_repeats_a_request_ten_times_to_the_same_setpoints(worker: Any) -> None:
    """The scheduler's repeat of a request that orders 20 kW of curtailment: every run curtails
    20 kW below what the units could give, not 20 kW below the last run's limits."""
    feeder = with_pv("feedera", seed=3)
    target = present_q_kvar(feeder) - 100.0
    answers = []
    for k in range(10):
        run = actions.do_request_dispatch(
            None,
            "scheduler",
            feeder.name,
            q_kvar=target,
            v_sub_pu=1.0,
            pv_curtailment_kw=20.0,
            trigger="manual" if k == 0 else "scheduled",
        )
        answers.append(answer(wait_for(run.pk)))
        follow_setpoints(feeder)
    assert all(a == answers[0] for a in answers[1:])
    setpoints, curtailed = answers[0]
    rated = {d.name: d.np_active_power_kw for d in DER.objects.filter(feeder=feeder)}
    assert curtailed == pytest.approx(20.0, abs=0.01)
    # what the units could give (their rating at full sun: none reports its available power)
    assert curtailed == pytest.approx(sum(rated[n] - p for n, p, _ in setpoints), abs=0.01)
    held = SetPoint.objects.filter(source="dms_dispatch", status="issued")
    assert {(sp.der.name, sp.p_limit_kw, sp.q_kvar) for sp in held} == set(setpoints)


def test_it_takes_the_available_power_a_unit_reports_while_it_is_fresh(operator: Any) -> None:
    """A 2030.5 unit's DERAvailability (statWAvail) is what it could give now; one older than two
    intervals is not trusted and the unit counts at its rating; the present output counts for none."""
    feeder = with_pv("feedera", seed=3)
    fresh, old, *rest = DER.objects.filter(feeder=feeder).order_by("name")
    registry.do_record_sep2_der_state(None, "test", fresh.pk, "dera", {"statWAvail": 3000.0})
    registry.do_record_sep2_der_state(None, "test", old.pk, "dera", {"statWAvail": 2000.0})
    stale_at = (timezone.now() - dt.timedelta(seconds=601)).isoformat()
    Sep2EndDevice.objects.filter(der=old).update(reported_at={"dera": stale_at})
    run = actions.do_request_dispatch(operator, "web", feeder.name, q_kvar=500.0, v_sub_pu=1.0, enqueue=False)
    run_dispatch.apply(args=(run.pk,))
    run.refresh_from_db()
    assert run.status == "done", run.error
    available = {s["name"]: s["p_avail_kw"] for s in run.result["setpoints"]}
    assert available[fresh.name] == 3.0
    assert available[old.name] == old.np_active_power_kw
    assert all(available[d.name] == d.np_active_power_kw for d in rest)
    limits = {s["name"]: s["p_limit_kw"] for s in run.result["setpoints"]}
    assert limits[fresh.name] <= 3.0


@pytest.mark.usefixtures("worker", "gateways")
def test_it_answers_repeated_ems_requests_with_the_same_setpoints() -> None:
    """The same EMS request over the DNP3 link, interval after interval (one OPF run and message
    each), with curtailment ordered: each dispatch the gateway starts gives the first's set points
    and curtailment."""
    bases = present(Feeder.objects.get(name="feedera")), present(Feeder.objects.get(name="bare"))
    answers = []
    for k in range(4):
        run = opf_run(*bases)
        DsoMessage.objects.filter(run=run, bus=5).update(pv_curtailment_kw=20.0)  # per feeder
        doc = send(run)
        assert [d["error"] for d in doc["dsos"] if d["bus"] == 5] == [""]
        dispatched = DispatchRun.objects.filter(feeder__name="feedera", trigger="ems")
        assert dispatched.count() == k + 1
        last = dispatched.first()
        assert last is not None
        answers.append(answer(last))
        follow_setpoints(Feeder.objects.get(name="feedera"))
    assert all(a == answers[0] for a in answers[1:])
    assert answers[0][1] == pytest.approx(20.0, abs=0.01)
