"""The cycle's pages: the timeline of the last cycles (one row per stage and scope, a bar against its
budget) and one cycle's page. Both follow live events (frontend/static/js/live.js)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.cycle import actions
from apps.cycle.engine.schedule import STAGE_LABELS, Stage, seconds_to_next
from apps.cycle.models import Cycle, StageRun
from apps.cycle.trends import WINDOW, dso_figure, feeder_voltage_figure
from apps.dms.models import DispatchRun
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from apps.standards.timing import INTERVALS_S
from apps.training.models import Scenario

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


ORDER = {stage.value: i for i, stage in enumerate(Stage)}


def _rows(cycle: Cycle) -> list[dict[str, Any]]:
    """In DESIGN §2's order of the stages (a DMS's stage-2 re-optimization may start before its DER
    messaging), the scopes of one stage by start."""
    stages = sorted(cycle.stages.all(), key=lambda s: (ORDER.get(s.stage, 99), s.started_at, s.scope))
    return [_bar(cycle, s) for s in stages]


@permission_required(VIEW, raise_exception=True)
def timeline(request: HttpRequest) -> HttpResponse:
    shown = _shown(request.GET.get("n"))
    cycles = list(Cycle.objects.prefetch_related("stages")[:shown])
    markers = _markers(cycles)
    now = timezone.now()
    upcoming = [
        s for s in Scenario.objects.filter(start_at__lt=now + dt.timedelta(days=7))[:50] if s.end_at > now
    ]
    context = {
        "scenarios_now": upcoming,
        "cycles": [(c, _rows(c), markers[c.pk]) for c in cycles],
        "shown": shown,
        "most": MOST,
        **_controls(),
    }
    template = "cycle/_timeline.html" if request.GET.get("fragment") else "cycle/timeline.html"
    return render(request, template, context)


def _markers(cycles: list[Cycle]) -> dict[int, list[Scenario]]:
    """The trainer's scenarios active during each cycle's interval (the timeline's event markers)."""
    out: dict[int, list[Scenario]] = {c.pk: [] for c in cycles}
    if not cycles:
        return out
    first = min(c.interval_start for c in cycles)
    last = max(c.interval_start + dt.timedelta(seconds=c.interval_s) for c in cycles)
    scenarios = [s for s in Scenario.objects.filter(start_at__lt=last) if s.end_at > first]
    for c in cycles:
        end = c.interval_start + dt.timedelta(seconds=c.interval_s)
        out[c.pk] = [s for s in scenarios if s.start_at < end and s.end_at > c.interval_start]
    return out


def _controls() -> dict[str, Any]:
    control = actions.control()
    now = timezone.now().timestamp()
    choices = [(s, f"{s / 60:g} minutes") for s in INTERVALS_S]
    if control.interval_s not in INTERVALS_S:  # a short test/demo interval (CREST_CYCLE_ALLOW_SHORT)
        choices.insert(0, (control.interval_s, f"{control.interval_s:g} s (test interval)"))
    return {
        "control": control,
        "interval_choices": choices,
        "next_in_s": round(seconds_to_next(now, control.interval_s)),
        "allow_short": settings.CREST_CYCLE_ALLOW_SHORT,
    }


def _done(request: HttpRequest, text: str) -> HttpResponse:
    messages.success(request, text)
    return redirect("cycle:timeline")


@require_POST
@permission_required("cycle.control_cycles", raise_exception=True)
def set_interval(request: HttpRequest) -> HttpResponse:
    try:
        control = actions.do_set_interval(request.user, "web", request.POST.get("interval_s", ""))
    except actions.CycleError as exc:
        messages.error(request, f"The interval was not changed: {exc}")
        return redirect("cycle:timeline")
    return _done(
        request, f"Cycles now run every {control.interval_s / 60:g} minutes, from the next boundary."
    )


@require_POST
@permission_required("cycle.control_cycles", raise_exception=True)
def pause(request: HttpRequest) -> HttpResponse:
    paused = request.POST.get("paused") == "1"
    try:
        actions.do_pause_cycles(request.user, "web", paused)
    except actions.CycleError as exc:
        messages.error(request, str(exc))
        return redirect("cycle:timeline")
    if paused:
        return _done(request, "Automatic cycles are paused: no new cycle starts until you resume.")
    return _done(request, "Automatic cycles resumed: the next starts at the next boundary.")


@require_POST
@permission_required("cycle.run_cycle", raise_exception=True)
def run_now(request: HttpRequest) -> HttpResponse:
    try:
        cycle = actions.do_run_now(request.user, "web", timezone.now())
    except actions.CycleError as exc:
        messages.error(request, f"No cycle was started: {exc}")
        return redirect("cycle:timeline")
    return _done(request, f"Cycle of {cycle.interval_start:%H:%M:%S} UTC started by hand.")


def _with_operating_point(opf: OpfRun | None) -> list[DsoMessage]:
    """The run's messages, each with the base demand (P, Q per feeder, drawn) its OPF solved at: the
    operating point read at collect when the DSO was metered, else the registered base."""
    if opf is None:
        return []
    used = {d.get("bus"): d for d in (opf.inputs or {}).get("dsos", []) if isinstance(d, dict)}
    sent = list(opf.messages.all())
    for m in sent:
        line = used.get(m.bus, {})
        m.base_p_kw, m.base_q_kvar = line.get("p_kw"), line.get("q_kvar")  # type: ignore[attr-defined]
    return sent


@permission_required(VIEW, raise_exception=True)
def cycle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = Cycle.objects.filter(pk=pk).prefetch_related("stages").first()
    if cycle is None:
        raise Http404(f"There is no cycle {pk}.")
    opf = cycle.opf_runs.prefetch_related("messages").first()
    rows = _rows(cycle)
    context = {
        "cycle": cycle,
        "cycles": [(cycle, rows, _markers([cycle])[cycle.pk])],
        "rows": rows,
        "opf": opf,
        "dso_messages": _with_operating_point(opf),
        "dispatches": list(cycle.dispatch_runs.select_related("feeder")),
    }
    return render(request, "cycle/detail.html", context)


@permission_required("cycle.view_cycle", raise_exception=True)
def trends(request: HttpRequest) -> HttpResponse:
    """The last 24 hours per DSO (requested, achieved, offered range) and per feeder (voltage band)."""
    now = timezone.now()
    endpoints = list(DsoEndpoint.objects.order_by("bus"))
    feeders = sorted(
        set(DispatchRun.objects.filter(created_at__gte=now - WINDOW).values_list("feeder__name", flat=True))
    )
    figures = [(f"dso-{e.bus}", dso_figure(e, now)) for e in endpoints]
    figures += [(f"feeder-{name}", feeder_voltage_figure(name, now)) for name in feeders]
    return render(request, "cycle/trends.html", {"figures": figures, "now": now})
