"""The alarm list: active first, newest first; operators acknowledge from it. By default it shows the
active alarms and the cleared ones nobody has acknowledged yet."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.alarms.actions import AlarmError, do_acknowledge_alarm, do_acknowledge_alarms
from apps.alarms.models import Alarm


@permission_required("alarms.view_alarm", raise_exception=True)
def alarm_list(request: HttpRequest) -> HttpResponse:
    show = "all" if request.GET.get("show") == "all" else "active"
    qs = Alarm.objects.select_related("acknowledged_by")
    if show == "active":  # a condition that came and went still waits for someone to see it
        qs = qs.filter(Q(cleared_at__isnull=True) | Q(acknowledged_at__isnull=True))
    qs = qs.order_by(F("cleared_at").desc(nulls_first=True), "-raised_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "alarms/alarm_list.html",
        {
            "page": page,
            "show": show,
            "query": f"show={show}",
            "unacked_shown": [a.pk for a in page if a.acknowledged_at is None],
            "active_count": Alarm.objects.filter(cleared_at__isnull=True).count(),
        },
    )


@require_POST
@permission_required("alarms.acknowledge_alarm", raise_exception=True)
def alarm_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        alarm = do_acknowledge_alarm(request.user, "web", pk)
    except AlarmError as exc:
        messages.error(request, str(exc))
    else:
        source = alarm.source_label or f"{alarm.source_type} {alarm.source_id}"
        messages.success(request, f"Alarm {alarm.pk} acknowledged: {alarm.get_kind_display()}, {source}.")
    show = "all" if request.POST.get("show") == "all" else "active"  # only our own two views
    return redirect(f"/alarms/?show={show}")


@require_POST
@permission_required("alarms.acknowledge_alarm", raise_exception=True)
def alarm_acknowledge_all(request: HttpRequest) -> HttpResponse:
    """Acknowledge the unacknowledged alarms the operator's page showed (their ids come with the
    form), not whatever was raised since."""
    show = "all" if request.POST.get("show") == "all" else "active"
    raw = request.POST.getlist("id")
    if not raw or len(raw) > 500 or not all(i.isdigit() for i in raw):
        messages.error(request, "Nothing was acknowledged: the list of alarms sent was empty or not valid.")
        return redirect(f"/alarms/?show={show}")
    try:
        done, already = do_acknowledge_alarms(request.user, "web", [int(i) for i in raw])
    except AlarmError as exc:
        messages.error(request, str(exc))
    else:
        text = f"{len(done)} alarm{'' if len(done) == 1 else 's'} acknowledged."
        if already:
            text += f" {already} had already been acknowledged by someone else."
        messages.success(request, text)
    return redirect(f"/alarms/?show={show}")
