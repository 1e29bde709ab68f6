"""The trainer's panel (admins): start a scenario in the plant simulator, end one, see what the plant
said and where each stands by the clock. The list follows live (`?fragment=1`, fetched by
frontend/static/js/live.js on every scenario event and when a scenario starts or ends by the clock).
The cycle timeline shows each as a marker (apps/cycle/views.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.der_registry.models import DER
from apps.dms.models import Feeder
from apps.ems.models import DsoEndpoint
from apps.standards.scenarios import DEFAULT_FACTOR, KINDS, LABELS, NETWORK_TIERS
from apps.training.actions import ScenarioError, do_end_scenario, do_start_scenario
from apps.training.models import Scenario

RUN = "training.run_scenario"
SHOWN = 30


def _minutes(raw: str | None, default: float) -> float | str:
    """Minutes from the form as seconds; the raw text when it is not a number (the action says so)."""
    try:
        return float(raw) * 60.0 if raw not in (None, "") else default
    except ValueError:
        return raw or ""


@permission_required(RUN, raise_exception=True)
def panel(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        doc = {
            "kind": request.POST.get("kind"),
            "feeders": request.POST.getlist("feeders"),
            "der": request.POST.get("der", ""),
            "branch": request.POST.get("branch", ""),
            "tier": request.POST.get("tier", ""),
            "link": request.POST.get("link", ""),
            "factor": request.POST.get("factor") or None,
            "start_in_s": _minutes(request.POST.get("start_in_min"), 0.0),
            "duration_s": _minutes(request.POST.get("duration_min"), float("nan")),
        }
        try:
            scenario = do_start_scenario(request.user, "web", doc)
        except ScenarioError as exc:
            messages.error(request, f"Nothing was started: {exc}")
        else:
            messages.success(
                request, f"Scenario {scenario.pk} ({scenario.label()}) is on its way to the plant."
            )
            return redirect("training:panel")
    scenarios = list(Scenario.objects.select_related("created_by")[:SHOWN])
    now = timezone.now()
    changes = [c for c in (s.next_change(now) for s in scenarios) if c is not None]
    listing = {
        "rows": [(s, s.phase(now)) for s in scenarios],
        "next_change_ms": int(min(changes).timestamp() * 1000) if changes else "",
    }
    if request.method == "GET" and request.GET.get("fragment"):  # the live refresh of the list
        return render(request, "training/_scenarios.html", listing)
    context = {
        **listing,
        "kinds": [(k, LABELS[k]) for k in KINDS],
        "defaults": DEFAULT_FACTOR,
        "tiers": NETWORK_TIERS,
        "dsos": DsoEndpoint.objects.order_by("name").values_list("name", flat=True),
        "feeders": Feeder.objects.order_by("name").values_list("name", flat=True),
        "ders": DER.objects.filter(status="active").order_by("name").values_list("name", flat=True)[:2000],
        "posted": request.POST if request.method == "POST" else {},
        "posted_feeders": request.POST.getlist("feeders") if request.method == "POST" else [],
    }
    return render(request, "training/panel.html", context, status=400 if request.method == "POST" else 200)


@require_POST
@permission_required(RUN, raise_exception=True)
def end(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        scenario = do_end_scenario(request.user, "web", pk)
    except ScenarioError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Scenario {scenario.pk} ended; the plant goes back by itself.")
    return redirect("training:panel")
