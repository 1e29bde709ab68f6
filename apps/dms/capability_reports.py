"""The DMS's answer when the EMS asks for its capability before a dispatch (issue #12 item 4: the
first cycle after start-up asks each DMS first). The gateway records the ask and enqueues the
computation; the worker stores the range; the gateway publishes it. One report per feeder and
interval: an ask repeated for the same interval is answered from the first."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.dms.models import CapabilityReport, Feeder
from crest_web import task_names
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.task_queue import enqueue_on_commit

Status = CapabilityReport.Status


@transaction.atomic
def do_request_capability_report(
    actor: Actor, source: str, feeder_name: str, interval_id: int, interval_s: float
) -> CapabilityReport:
    """The report for (feeder, interval), created and queued on the first ask."""
    feeder = Feeder.objects.get(name=feeder_name)
    report, created = CapabilityReport.objects.get_or_create(feeder=feeder, interval_id=interval_id)
    if created:
        audit.record(actor, source, "dms.capability_requested", report, after={"interval_id": interval_id})
        enqueue_on_commit(task_names.DISPATCH_CAPABILITY, report.pk, interval_s)
    return report


@transaction.atomic
def do_finish_capability_report(
    report_id: int,
    q_min_kvar: float | None,
    q_max_kvar: float | None,
    detail: dict[str, Any],
    error: str = "",
) -> CapabilityReport | None:
    """Store the computed range (per feeder, Q drawn); None if the report was finished already."""
    report = CapabilityReport.objects.select_for_update().get(pk=report_id)
    if report.status != Status.QUEUED:
        return None
    report.q_min_kvar, report.q_max_kvar, report.detail = q_min_kvar, q_max_kvar, detail
    report.status = Status.FAILED if error else Status.DONE
    report.error, report.finished_at = error[:500], timezone.now()
    report.save()
    return report
