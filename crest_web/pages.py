"""Pages that belong to no single app: the control-room home and the audit log."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.alarms.counts import alarm_counts
from apps.cycle.overview import overview_context
from apps.der_registry.models import DER
from crest_web.accounts.models import AuditRecord


def home(request: HttpRequest) -> HttpResponse:
    """The operator's overview (apps/cycle/overview.py) above the registry's counts; `?fragment=1`
    is the overview alone, which the page fetches on every cycle, stage, EMS and alarm event."""
    now = timezone.now()
    sees_cycles = request.user.has_perm("cycle.view_cycle")
    overview = overview_context(now) if sees_cycles else {}
    if request.GET.get("fragment") and sees_cycles:
        return render(request, "cycle/_overview.html", overview)
    counts = dict(DER.objects.values_list("status").annotate(n=Count("id")))
    stale = DER.objects.filter(status="active").with_stale_telemetry(now).count()
    context = {"counts": counts, "total": sum(counts.values()), "stale": stale, "alarms": alarm_counts()}
    return render(request, "home.html", {**context, **overview})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "csrf_failure.html", status=403)


@permission_required("accounts.view_auditrecord", raise_exception=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    qs = AuditRecord.objects.all()
    if request.GET.get("action"):
        qs = qs.filter(action=request.GET["action"])
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "audit.html", {"page": page})
