"""Dispatch runs on the workers, each under its feeder's interlocking lock (apps/dms/locks.py): runs
of one feeder wait for each other and for capability studies of it; different feeders run side by
side on different workers."""

from __future__ import annotations

import socket
import time

from celery import shared_task

from apps.capability.engine.flexibility import range_now, with_flexibility
from apps.dms import actions
from apps.dms.capability_reports import do_finish_capability_report
from apps.dms.dispatch_inputs import allocated, der_states, result_doc, without_confirmation
from apps.dms.engine.dispatch import dispatch
from apps.dms.engine.dispatch_types import DispatchInputError, DispatchOptions, DispatchRequest
from apps.dms.feeders import dispatch_network
from apps.dms.locks import FeederBusy, feeder_lock
from apps.dms.models import CapabilityReport, DispatchRun, Feeder
from crest_web import task_names


@shared_task(name=task_names.DISPATCH_RUN)
def run_dispatch(run_id: int) -> str:
    """Dispatch one queued run; a redelivered run that already started is skipped."""
    run = DispatchRun.objects.select_related("feeder", "feeder_version").get(pk=run_id)
    started = time.perf_counter()
    try:
        with feeder_lock(run.feeder.name, f"dispatch run {run_id} ({run.get_trigger_display()})"):
            if not actions.do_start_dispatch(run_id, socket.gethostname()):
                return "skipped"
            assert run.feeder_version is not None
            net, replaced = dispatch_network(run.feeder_version)  # enrolled file elements: DERs now
            ders, ids = der_states(run.feeder, run.interval_s)
            ders = without_confirmation(ders, run.left_out)
            net, allocation = allocated(run.feeder, net, ders, run.interval_s)  # to the metered head P/Q
            request = DispatchRequest(run.q_requested_kvar, run.v_sub_pu, run.pv_curtailment_kw, run.dr_kw)
            result = dispatch(net, request, ders, DispatchOptions(interval_s=run.interval_s))
            result = with_flexibility(net, ders, result)  # the limits reported to the EMS next
            doc = {**result_doc(result), "load_allocation": allocation, "replaced_elements": replaced}
            actions.do_finish_dispatch(run_id, doc, ids, time.perf_counter() - started)
    except FeederBusy as exc:
        actions.do_fail_dispatch(run_id, str(exc))
        return "busy"
    except DispatchInputError as exc:
        actions.do_fail_dispatch(run_id, str(exc))
        return "refused"
    except Exception as exc:  # a failed dispatch is reported to the operator, not lost in a log
        actions.do_fail_dispatch(run_id, f"The dispatch failed: {exc}"[:500])
        return "failed"
    return "done"


@shared_task(name=task_names.DISPATCH_CAPABILITY)
def capability_for_ems(report_id: int, interval_s: float) -> str:
    """The range the feeder's DERs offer now, for an EMS that asked before dispatching: loads
    allocated to the substation reading, the transmission side at the measured voltage."""
    report = CapabilityReport.objects.select_related("feeder").get(pk=report_id)
    if report.status != CapabilityReport.Status.QUEUED:
        return "skipped"
    try:
        with feeder_lock(report.feeder.name, f"capability for the EMS (interval {report.interval_id})"):
            version = report.feeder.current_version()
            if version is None:
                raise ValueError(f"feeder {report.feeder.name} has no model")
            net, _ = dispatch_network(version)
            ders, _ = der_states(report.feeder, interval_s)
            net, allocation = allocated(report.feeder, net, ders, interval_s)
            v_tm = float(allocation.get("measured_v_pu") or net.source_pu)
            q_min_kvar, q_max_kvar, note = range_now(net, ders, v_tm, interval_s)
    except (FeederBusy, ValueError) as exc:
        do_finish_capability_report(report_id, None, None, {}, error=str(exc))
        return "failed"
    detail = {"load_allocation": allocation, "v_tm_pu": v_tm, "note": note}
    do_finish_capability_report(report_id, q_min_kvar, q_max_kvar, detail)
    return "done"


@shared_task(name=task_names.DISPATCH_SCHEDULED)
def scheduled_dispatch() -> int:
    """Time-based dispatch: every feeder whose last request was dispatched gets it again."""
    count = 0
    for feeder in Feeder.objects.all():
        last = feeder.dispatch_runs.filter(status=DispatchRun.Status.DONE).first()
        if last is not None:
            _again(feeder.name, last, "scheduled", "time-based dispatch")
            count += 1
    return count


@shared_task(name=task_names.DISPATCH_REDISPATCH)
def redispatch(feeder_name: str, reason: str) -> int | None:
    """Event-based re-dispatch of a feeder's last request (a DER lost, a violation raised ...)."""
    last = DispatchRun.objects.filter(feeder__name=feeder_name, status=DispatchRun.Status.DONE).first()
    if last is None:
        return None
    return _again(feeder_name, last, "event", reason).pk


def _again(feeder: str, last: DispatchRun, trigger: str, reason: str) -> DispatchRun:
    return actions.do_request_dispatch(
        None,
        "scheduler",
        feeder,
        q_kvar=last.q_requested_kvar,
        v_sub_pu=last.v_sub_pu,
        pv_curtailment_kw=last.pv_curtailment_kw,
        dr_kw=last.dr_kw,
        trigger=trigger,
        reason=reason,
        interval_s=last.interval_s,
    )
