"""Dispatch runs on real Celery workers under per-feeder interlocking (seed 002): set points reach the
registry, bad input stores nothing and leaves the previous set points alone, runs of one feeder never
overlap (nor with a capability study of it) while two feeders run side by side, and the lock of a
killed holder expires."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from apps.alarms.actions import do_raise_alarm
from apps.capability import actions as capability_actions
from apps.capability.models import CapabilityStudy
from apps.der_registry import actions as registry
from apps.der_registry.models import DER, LatestMonitoring, SetPoint
from apps.dms import actions
from apps.dms.actions import DispatchError, do_add_feeder_version
from apps.dms.engine import opendss_pf
from apps.dms.engine.network import DerInjection, Network, OperatingState
from apps.dms.locks import FeederBusy, feeder_lock
from apps.dms.models import DispatchRun, Feeder
from crest_web.accounts.models import AuditRecord
from tests.conftest import ROOT, client_for
from tests.integration.conftest import start, stop
from tests.integration.test_it_capability_studies import wait_until_finished

pytestmark = pytest.mark.django_db(transaction=True)
SHARE = 0.6  # PV output now, of the rating


def with_pv(name: str, seed: int) -> Feeder:
    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    net = dataclasses.replace(Network.from_dict(json.loads(text)), name=name)
    feeder = do_add_feeder_version(None, "system", net, source_name="ieee13.json", source_text=text).feeder
    call_command("add_pv", name, "--count", "10", "--seed", str(seed), stdout=io.StringIO())
    for der in DER.objects.filter(feeder=feeder):
        registry.do_record_monitoring(
            None,
            "test",
            der.pk,
            {"p_kw": SHARE * der.np_active_power_kw, "q_kvar": 0.0, "connection_status": "connected"},
        )
    return feeder


def present_q_kvar(feeder: Feeder) -> float:
    """OpenDSS at the DERs' present output: the request is set relative to it."""
    version = feeder.current_version()
    assert version is not None
    ders = {
        d.name: DerInjection(d.bus, tuple(d.phases), SHARE * d.np_active_power_kw)
        for d in DER.objects.filter(feeder=feeder)
    }
    return opendss_pf.solve(Network.from_dict(version.model), OperatingState(1.0, ders)).substation_q_kvar


def wait_for(run_id: int, timeout_s: float = 120) -> DispatchRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = DispatchRun.objects.get(pk=run_id)
        if run.status in ("done", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"dispatch {run_id} still {run.status} after {timeout_s} s")


@pytest.fixture
def two_workers() -> Iterator[None]:
    procs = [
        start("worker", "--pool", "solo", "--hostname", f"dispatch-{k}@%h", "--loglevel", "WARNING")
        for k in (1, 2)
    ]
    yield
    for proc in procs:
        stop(proc)


def test_it_dispatches_an_operators_request_to_the_registry(worker: Any, operator: User) -> None:
    feeder = with_pv("feedera", seed=3)
    stale, cut, *rest = DER.objects.filter(feeder=feeder).order_by("name")
    old = timezone.now() - dt.timedelta(seconds=700)  # > two 300 s intervals
    LatestMonitoring.objects.filter(der=stale).update(t=old)  # a device that went quiet
    do_raise_alarm(
        None, "test", kind="comm_failure", source_type="der", source_id=cut.pk, message="no answer"
    )
    target = present_q_kvar(feeder) - 150.0
    client = client_for(operator)
    response = client.post(
        f"/feeders/{feeder.name}/dispatch/",
        {"q_kvar": target, "v_sub_pu": 1.0, "pv_curtailment_kw": 0, "dr_kw": 0},
    )
    assert response.status_code == 302, response.content
    run = wait_for(DispatchRun.objects.get().pk)
    assert run.status == "done", run.error
    assert run.requested_by == operator and run.trigger == "manual"
    assert run.q_achieved_kvar is not None and abs(run.q_achieved_kvar - target) <= 0.02 * abs(target)
    excluded = {e["name"]: e["cause"] for e in run.result["excluded"]}
    assert excluded == {stale.name: "DER unavailable", cut.name: "communication failure"}
    issued = SetPoint.objects.filter(source="dms_dispatch", status="issued")
    assert {sp.der.name for sp in issued} == {d.name for d in rest}
    assert all(sp.control_mode == "active_reactive" and sp.q_kvar is not None for sp in issued)
    assert not SetPoint.objects.filter(der__in=[stale, cut], source="dms_dispatch").exists()
    assert AuditRecord.objects.filter(action="dispatch.request").count() == 1
    page = client.get(f"/feeders/{feeder.name}/dispatch/{run.pk}/").content.decode()
    assert "communication failure" in page and rest[0].name in page
    history = client.get(f"/feeders/{feeder.name}/dispatch/")
    assert list(history.context["runs"]) == [run]


def test_it_lets_only_operators_dispatch(planner: User) -> None:
    feeder = with_pv("feedera", seed=3)
    client = client_for(planner)
    assert client.get(f"/feeders/{feeder.name}/dispatch/").status_code == 200
    response = client.post(f"/feeders/{feeder.name}/dispatch/", {"q_kvar": 100, "v_sub_pu": 1.0})
    assert response.status_code == 403
    assert not DispatchRun.objects.exists()


@pytest.mark.parametrize(
    ("feeder", "fields", "words"),
    [
        ("feedera", {"q_kvar": "nan", "v_sub_pu": 1.0}, "not a number"),
        ("feedera", {"q_kvar": 1e9, "v_sub_pu": 1.0}, "beyond any feeder"),
        ("feedera", {"q_kvar": 100.0, "v_sub_pu": 1.6}, "outside"),
        ("ghost", {"q_kvar": 100.0, "v_sub_pu": 1.0}, "no feeder named 'ghost'"),
        ("bare", {"q_kvar": 100.0, "v_sub_pu": 1.0}, "no active DERs"),
    ],
)
def test_it_refuses_bad_requests_and_keeps_the_previous_setpoints(
    operator: User, feeder: str, fields: dict[str, Any], words: str
) -> None:
    der = DER.objects.filter(feeder=with_pv("feedera", seed=3)).first()
    assert der is not None
    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    bare = dataclasses.replace(Network.from_dict(json.loads(text)), name="bare")
    do_add_feeder_version(None, "system", bare, source_name="ieee13.json")
    previous = registry.do_issue_setpoint(
        None, "test", der.pk, control_mode="active_reactive", p_limit_kw=5.0, q_kvar=1.0
    )
    with pytest.raises(DispatchError, match=words):
        actions.do_request_dispatch(
            operator, "web", feeder, q_kvar=float(fields["q_kvar"]), v_sub_pu=fields["v_sub_pu"]
        )
    if feeder != "ghost":
        response = client_for(operator).post(
            f"/feeders/{feeder}/dispatch/", {**fields, "pv_curtailment_kw": 0, "dr_kw": 0}
        )
        assert response.status_code == 400
    assert not DispatchRun.objects.exists()
    assert not AuditRecord.objects.filter(action="dispatch.request").exists()
    previous.refresh_from_db()
    assert previous.status == "issued" and SetPoint.objects.count() == 1
    assert not math.isnan(previous.q_kvar or 0.0)


def test_it_serializes_one_feeder_and_runs_two_feeders_in_parallel(
    two_workers: None, admin_user: User
) -> None:
    a, b = with_pv("feedera", seed=3), with_pv("feederb", seed=4)
    q_a, q_b = present_q_kvar(a) - 100.0, present_q_kvar(b) - 100.0
    with feeder_lock(a.name, "the test, standing in for a long study"):
        first = actions.do_request_dispatch(admin_user, "web", a.name, q_kvar=q_a, v_sub_pu=1.0)
        other = actions.do_request_dispatch(admin_user, "web", b.name, q_kvar=q_b, v_sub_pu=1.0)
        assert wait_for(other.pk).status == "done"  # feeder b ran on the other worker meanwhile
        first.refresh_from_db()
        assert first.status == "queued"  # feeder a waits for its lock
    assert wait_for(first.pk).status == "done"
    runs = [
        actions.do_request_dispatch(admin_user, "web", a.name, q_kvar=q_a, v_sub_pu=1.0, trigger=t)
        for t in ("scheduled", "event")
    ]
    held = sorted((wait_for(r.pk).locked_at, wait_for(r.pk).finished_at) for r in runs)
    assert all(wait_for(r.pk).status == "done" for r in runs)
    (_, first_end), (second_start, _) = held
    assert first_end is not None and second_start is not None and first_end <= second_start  # in turn


def test_it_holds_a_capability_study_behind_the_feeders_lock(worker: Any, admin_user: User) -> None:
    feeder = with_pv("feedera", seed=3)
    with feeder_lock(feeder.name, "a dispatch"):
        study = capability_actions.do_start_study(admin_user, "web", feeder.name, headroom="0:1:0.5")
        time.sleep(2)  # the worker has it and waits for the lock
        study.refresh_from_db()
        assert study.status == "queued"
    study = wait_until_finished(study.pk)
    assert study.status == CapabilityStudy.Status.DONE, study.error


def test_it_frees_the_lock_of_a_killed_holder() -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); import time\n"
            "from apps.dms.locks import feeder_lock\n"
            "with feeder_lock('feederk', 'doomed worker', ttl_s=2.0):\n"
            "    print('held', flush=True); time.sleep(600)\n",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "crest_web.settings"},
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        time.sleep(3)  # beyond the 2 s TTL: only the renewals keep it
        with pytest.raises(FeederBusy, match="doomed worker"), feeder_lock("feederk", "test", wait_s=0.1):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with feeder_lock("feederk", "test", wait_s=15) as lock:  # expires by itself
            assert lock.owned()
    finally:
        holder.kill()
        holder.wait(10)


def test_it_redispatches_the_last_request_on_an_event_and_on_the_clock() -> None:
    from celery_tasks.dispatch import redispatch, scheduled_dispatch

    feeder = with_pv("feedera", seed=3)
    assert redispatch.apply(args=(feeder.name, "DER lost")).get() is None  # nothing dispatched yet
    last = actions.do_request_dispatch(None, "ems", feeder.name, q_kvar=321.0, v_sub_pu=0.99, enqueue=False)
    assert actions.do_start_dispatch(last.pk, "here") and not actions.do_start_dispatch(last.pk, "again")
    actions.do_finish_dispatch(last.pk, {"setpoints": []}, {}, 0.1)
    again = DispatchRun.objects.get(pk=redispatch.apply(args=(feeder.name, "DER lost")).get())
    assert (again.trigger, again.reason, again.q_requested_kvar, again.v_sub_pu) == (
        "event",
        "DER lost",
        321.0,
        0.99,
    )
    assert scheduled_dispatch.apply().get() == 1
    assert DispatchRun.objects.filter(trigger="scheduled", q_requested_kvar=321.0).count() == 1


def test_it_shows_planners_the_runs_and_operators_what_the_registry_refused(
    operator: User, planner: User
) -> None:
    feeder = with_pv("feedera", seed=3)
    viewer = client_for(planner)
    page = viewer.get(f"/feeders/{feeder.name}/dispatch/").content.decode()
    assert 'id="dispatch-form"' not in page and "Manual dispatch is for operators" in page
    refused = viewer.post(f"/feeders/{feeder.name}/dispatch/", {"q_kvar": 100, "v_sub_pu": 1.0})
    assert refused.status_code == 403 and "Not allowed" in refused.content.decode()
    setpoints = [{"name": n, "kind": "pv", "p_limit_kw": 5.0, "q_kvar": 7.0} for n in ("pv-a", "pv-b")]
    reason = "q_kvar: Q must be between -4.84 and 4.84 kvar (got 7 kvar)."
    done = DispatchRun.objects.create(
        feeder=feeder,
        trigger="manual",
        q_requested_kvar=100.0,
        v_sub_pu=1.0,
        status="done",
        q_achieved_kvar=100.0,
        result={"setpoints": setpoints, "not_issued": [{"name": "pv-b", "reason": reason}]},
    )
    queued = DispatchRun.objects.create(feeder=feeder, trigger="manual", q_requested_kvar=50.0, v_sub_pu=1.0)
    client = client_for(operator)
    runs = client.get(f"/feeders/{feeder.name}/dispatch/").content.decode()
    assert 'data-busy="Dispatching…"' in runs  # a double click sends one request, not two dispatches
    assert "1 set point refused" in runs and 'class="status status-queued"' in runs
    detail = client.get(f"/feeders/{feeder.name}/dispatch/{done.pk}/").content.decode()
    assert "1 of 2 set points refused by the registry" in detail and reason in detail
    pending = client.get(f"/feeders/{feeder.name}/dispatch/{queued.pk}/").content.decode()
    assert 'data-status="queued"' in pending and "the page shows its result as soon as it is done" in pending


def with_demo_like_pv(name: str, seed: int) -> Feeder:
    """PV enrolled as the demo enrolls it: reactive ratings 0.44 × the kVA (IEEE 1547 Category B's
    minimum), a few older units at 0.3 ×; output a share of the active power rating, reported as
    what each could give now (2030.5 DERAvailability), so the kVA leaves room for the ratings' Q."""
    from apps.capability.engine.pv import add_pv
    from apps.capability.management.commands.add_pv import pv_record

    text = (ROOT / "apps" / "dms" / "fixtures" / "ieee13.json").read_text()
    net = dataclasses.replace(Network.from_dict(json.loads(text)), name=name)
    feeder = do_add_feeder_version(None, "system", net, source_name="ieee13.json", source_text=text).feeder
    for k, unit in enumerate(add_pv(net, penetration=0.9, count=10, oversize=1.1, seed=seed)):
        rec = pv_record(name, unit, seed)
        q_kvar = round(unit.s_rated_kva * (0.3 if k % 7 == 3 else 0.44), 2)
        nameplate = dataclasses.replace(
            rec.nameplate, reactive_injected_kvar=q_kvar, reactive_absorbed_kvar=q_kvar
        )
        der = registry.do_enroll_der(None, "test", dataclasses.replace(rec, nameplate=nameplate))
        registry.do_transition_der(None, "test", der.pk, "approved", "test")
        registry.do_transition_der(None, "test", der.pk, "active", "test")
        registry.do_record_monitoring(
            None,
            "test",
            der.pk,
            {"p_kw": SHARE * der.np_active_power_kw, "q_kvar": 0.0, "connection_status": "connected"},
        )
        available_w = 1000.0 * SHARE * der.np_active_power_kw
        registry.do_record_sep2_der_state(None, "test", der.pk, "dera", {"statWAvail": available_w})
    return feeder


def test_it_issues_every_setpoint_within_the_reactive_ratings(worker: Any, operator: User) -> None:
    """Asking for more absorption than the DERs' reactive ratings allow: the dispatch plans within the
    ratings the registry checks, so every set point is issued (none refused, the run not partial), and
    the achieved Q it reports is OpenDSS at exactly the set points the registry holds."""
    feeder = with_demo_like_pv("feederq", seed=5)
    ders = {d.name: d for d in DER.objects.filter(feeder=feeder)}
    assert all(d.np_reactive_injected_kvar < 0.5 * d.np_apparent_power_kva for d in ders.values())
    response = client_for(operator).post(
        f"/feeders/{feeder.name}/dispatch/",
        {"q_kvar": present_q_kvar(feeder) + 2000.0, "v_sub_pu": 1.0, "pv_curtailment_kw": 0, "dr_kw": 0},
    )
    assert response.status_code == 302, response.content
    run = wait_for(DispatchRun.objects.get().pk)
    assert run.status == "done", run.error
    assert run.result["not_issued"] == [] and run.result["partial"] is False
    issued = {sp.der.name: sp for sp in SetPoint.objects.filter(source="dms_dispatch", status="issued")}
    assert set(issued) == set(ders)
    for name, sp in issued.items():
        der = ders[name]
        assert sp.q_kvar is not None and sp.p_limit_kw is not None
        assert -der.np_reactive_absorbed_kvar <= sp.q_kvar <= der.np_reactive_injected_kvar
        assert 0.0 <= sp.p_limit_kw <= der.np_active_power_kw
    at_rating = [
        n for n, sp in issued.items() if (sp.q_kvar or 0.0) <= -ders[n].np_reactive_absorbed_kvar + 1e-3
    ]
    assert len(at_rating) >= 8  # the request pushed them to their ratings, not to the kVA disk
    assert any(s["cause"] == "capability limit" for s in run.result["shortfalls"])
    version = feeder.current_version()
    assert version is not None
    sent = {
        n: DerInjection(ders[n].bus, tuple(ders[n].phases), sp.p_limit_kw or 0.0, sp.q_kvar or 0.0)
        for n, sp in issued.items()
    }
    replay = opendss_pf.solve(Network.from_dict(version.model), OperatingState(1.0, sent, {}, 1.0))
    assert run.q_achieved_kvar == pytest.approx(replay.substation_q_kvar, abs=0.05)  # set points at 1e-4 kW


def test_it_marks_a_run_partial_when_the_registry_refuses_a_setpoint(operator: User) -> None:
    feeder = with_demo_like_pv("feederq", seed=5)
    der, other = DER.objects.filter(feeder=feeder).order_by("name")[:2]
    run = actions.do_request_dispatch(None, "ems", feeder.name, q_kvar=100.0, v_sub_pu=1.0, enqueue=False)
    assert actions.do_start_dispatch(run.pk, "here")
    too_much = der.np_reactive_injected_kvar + 1.0
    doc = {
        "setpoints": [
            {"name": der.name, "kind": "pv", "p_limit_kw": 1.0, "q_kvar": too_much},
            {"name": other.name, "kind": "pv", "p_limit_kw": 1.0, "q_kvar": 0.5},
        ],
        "q_achieved_kvar": 100.0,
    }
    done = actions.do_finish_dispatch(run.pk, doc, {der.name: der.pk, other.name: other.pk}, 0.1)
    assert done.result["partial"] is True and [n["name"] for n in done.result["not_issued"]] == [der.name]
    audit = AuditRecord.objects.get(action="dispatch.finish")
    assert audit.after is not None and audit.after["partial"] is True
    page = client_for(operator).get(f"/feeders/{feeder.name}/dispatch/{run.pk}/").content.decode()
    assert "partial: assumes set points that were not all sent" in page
    assert "1 of 2 set points refused by the registry" in page


def test_a_dispatch_that_leaves_violations_raises_an_alarm_on_the_feeder_and_a_clean_one_clears_it() -> None:
    """Issue #14: "a dispatch ending with 89 → 106 violations raised no alarm anywhere"."""
    from apps.alarms.models import Alarm

    feeder = with_pv("feederv", seed=7)
    alarm = Alarm.objects.filter(kind="violation", source_type="feeder", source_id=feeder.name)

    def finish(trigger: str, left: int) -> None:
        run = actions.do_request_dispatch(
            None, "web", feeder.name, q_kvar=10.0, v_sub_pu=1.0, trigger=trigger, enqueue=False
        )
        assert actions.do_start_dispatch(run.pk, "here")
        doc = {"setpoints": [], "violations_after": left, "v_min_pu_after": 0.97, "v_max_pu_after": 1.062}
        actions.do_finish_dispatch(run.pk, doc, {}, 0.1)

    finish("ems", 106)
    assert not alarm.exists()  # the EMS raises its own on the DSO from the answer: one is enough
    finish("manual", 106)
    active = alarm.get(cleared_at__isnull=True)
    assert "left 106 node-phases outside 0.95–1.05 pu (voltages 0.9700–1.0620 pu" in active.message
    assert "0.012 pu beyond the band at worst" in active.message and active.priority == "critical"
    finish("manual", 0)
    assert not alarm.filter(cleared_at__isnull=True).exists()
