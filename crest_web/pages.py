"""Pages that belong to no single app: the control-room home and the audit log."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.alarms.counts import alarm_counts
from apps.der_registry.models import DER
from crest_web.accounts.models import AuditRecord


def home(request: HttpRequest) -> HttpResponse:
    counts = dict(DER.objects.values_list("status").annotate(n=Count("id")))
    stale = DER.objects.filter(status="active").with_stale_telemetry(timezone.now()).count()
    context = {"counts": counts, "total": sum(counts.values()), "stale": stale, "alarms": alarm_counts()}
    return render(request, "home.html", context)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "csrf_failure.html", status=403)


@permission_required("accounts.view_auditrecord", raise_exception=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    qs = AuditRecord.objects.all()
    if request.GET.get("action"):
        qs = qs.filter(action=request.GET["action"])
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "audit.html", {"page": page})
