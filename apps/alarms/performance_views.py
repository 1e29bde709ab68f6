"""The alarm performance page (ISA-18.2 §16 monitoring): for a chosen period, the rate per 10
minutes against the targets, time in flood, the most frequent alarms, the priority mix, and the
chattering and stale alarms (apps/alarms/engine/performance.py computes the figures)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.alarms.engine import isa182
from apps.alarms.engine import performance as perf
from apps.alarms.models import Alarm

DEFAULT_PERIOD = dt.timedelta(hours=24)
LONGEST_PERIOD = dt.timedelta(days=31)
UNREADABLE = "The period is a date and time (YYYY-MM-DD HH:MM); the last 24 h shown."


def _when(raw: str | None) -> dt.datetime | None:
    parsed = parse_datetime(raw) if raw else None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt.UTC)  # the page's times are UTC
    return parsed


def _period(request: HttpRequest, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, str]:
    """The period asked for (UTC), or the last 24 hours; a note when the request was not usable."""
    start, end = _when(request.GET.get("from")), _when(request.GET.get("to"))
    unreadable = (request.GET.get("from") and start is None) or (request.GET.get("to") and end is None)
    if unreadable:
        return now - DEFAULT_PERIOD, now, UNREADABLE
    end = end or now
    start = start or end - DEFAULT_PERIOD
    if not end > start:
        return now - DEFAULT_PERIOD, now, "The period must end after it starts; the last 24 h shown."
    if end - start > LONGEST_PERIOD:
        return end - LONGEST_PERIOD, end, "A period is at most 31 days; its last 31 days shown."
    return start, end, ""


@permission_required("alarms.view_alarm", raise_exception=True)
def alarm_performance(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    start, end, note = _period(request, now)
    raised = Alarm.objects.filter(raised_at__gte=start, raised_at__lt=end)
    activations = [
        perf.Activation(at, kind, f"{source_type}:{source_label or source_id}", priority)
        for at, kind, source_type, source_id, source_label, priority in raised.values_list(
            "raised_at", "kind", "source_type", "source_id", "source_label", "priority"
        )
    ]
    figures = perf.performance(activations, start, end, isa182.PRIORITIES)
    stale_before = now - isa182.STALE_AFTER
    context = {
        "p": figures,
        "note": note,
        "kinds": dict(Alarm.Kind.choices),
        "marks": isa182.PRIORITY_MARK,
        "mix": [(p, figures.mix_pct[p], perf.RECOMMENDED_MIX[p]) for p in isa182.PRIORITIES],
        "targets": perf,
        "chattering": raised.filter(chattering=True).order_by("-raised_at")[:50],
        "stale": Alarm.objects.filter(cleared_at__isnull=True, raised_at__lt=stale_before).order_by(
            "raised_at"
        ),
        "from_value": start.strftime("%Y-%m-%d %H:%M"),
        "to_value": end.strftime("%Y-%m-%d %H:%M"),
        "peak_scale": max(figures.peak_per_10min, perf.FLOOD_ABOVE_PER_10MIN + 1),
    }
    return render(request, "alarms/performance.html", context, status=400 if note else 200)
