"""The cycle's pages: the timeline of the last cycles (one row per stage and scope, a bar against its
budget) and one cycle's page. Both follow live events (frontend/static/js/live.js)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.cycle.engine.schedule import STAGE_LABELS, Stage
from apps.cycle.models import Cycle, StageRun

VIEW = "cycle.view_cycle"
SHOWN, MOST = 12, 96  # cycles on the timeline by default, and at the most (8 h of 5-minute cycles)


def _shown(raw: str | None) -> int:
    try:
        return min(max(int(raw or SHOWN), 1), MOST)
    except ValueError:
        return SHOWN


def _bar(cycle: Cycle, s: StageRun) -> dict[str, Any]:
    """Where a stage sits in its interval, in percent of the interval: start, length, budget end."""
    scale = 100.0 / cycle.interval_s
    left = max((s.started_at - cycle.interval_start).total_seconds() * scale, 0.0)
    return {
        "stage": s,
        "label": STAGE_LABELS[Stage(s.stage)],
        "left": round(min(left, 100.0), 2),
        "width": round(max(min((s.duration_s or 0.0) * scale, 100.0 - left), 0.4), 2),
        "budget_end": round(min(left + s.budget_s * scale, 100.0), 2),
    }


def _rows(cycle: Cycle) -> list[dict[str, Any]]:
    return [_bar(cycle, s) for s in cycle.stages.all()]


@permission_required(VIEW, raise_exception=True)
def timeline(request: HttpRequest) -> HttpResponse:
    shown = _shown(request.GET.get("n"))
    cycles = list(Cycle.objects.prefetch_related("stages")[:shown])
    context = {"cycles": [(c, _rows(c)) for c in cycles], "shown": shown, "most": MOST}
    template = "cycle/_timeline.html" if request.GET.get("fragment") else "cycle/timeline.html"
    return render(request, template, context)


@permission_required(VIEW, raise_exception=True)
def cycle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = Cycle.objects.filter(pk=pk).prefetch_related("stages").first()
    if cycle is None:
        raise Http404(f"There is no cycle {pk}.")
    opf = cycle.opf_runs.prefetch_related("messages").first()
    rows = _rows(cycle)
    context = {
        "cycle": cycle,
        "cycles": [(cycle, rows)],
        "rows": rows,
        "opf": opf,
        "dso_messages": list(opf.messages.all()) if opf else [],
        "dispatches": list(cycle.dispatch_runs.select_related("feeder")),
    }
    return render(request, "cycle/detail.html", context)
