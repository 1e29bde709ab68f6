"""What-if page and API: a transmission case with DER injections and outages, before and after."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.dms.plots import DARK
from apps.ems.engine.case import CASES, DEFAULT_CASE, parse_injection
from apps.ems.engine.whatif import run_whatif
from crest_web.accounts.roles import role_of

SEED_SCENARIO = {"case": "case9", "injections": "7:45:22", "outages": "5-6"}  # seed 004 §VI


def compare(case: str, injections: list[str], outages: list[str]) -> dict[str, Any]:
    """The base case and the what-if, side by side (ValueError with the reason on bad input)."""
    parsed = [parse_injection(text) for text in injections]
    before = run_whatif(case).as_json()
    after = run_whatif(case, parsed, outages).as_json()
    buses = [
        {
            "bus": b,
            "before": before["buses"][b],
            "after": v,
            "delta": round(v - before["buses"][b], 5),
            "violation": not 0.95 <= v <= 1.05,
        }
        for b, v in after["buses"].items()
    ]
    gens = [
        {"bus": g, "before": before["generators"].get(g), "after": q} for g, q in after["generators"].items()
    ]
    return {
        "case": case,
        "injections": injections,
        "outages": outages,
        "before": before,
        "after": after,
        "buses": buses,
        "generators": gens,
    }


def figure(doc: dict[str, Any]) -> dict[str, Any]:
    fig = go.Figure()
    x = [f"bus {r['bus']}" for r in doc["buses"]]
    fig.add_trace(
        go.Bar(x=x, y=[r["before"] for r in doc["buses"]], name="base case", marker_color="#5b7085")
    )
    fig.add_trace(go.Bar(x=x, y=[r["after"] for r in doc["buses"]], name="what-if", marker_color="#4aa3ff"))
    for level in (0.95, 1.05):
        fig.add_hline(y=level, line={"color": "#f85149", "dash": "dash", "width": 1})
    fig.update_layout(
        title="Bus voltages (pu)", barmode="group", yaxis={"range": [0.85, 1.1]}, height=420, **DARK
    )
    return fig.to_plotly_json()


def _lines(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def whatif_page(request: HttpRequest) -> HttpResponse:
    if not role_of(request.user):
        return render(request, "403.html", status=403)
    form = (
        dict(SEED_SCENARIO)
        if "seed" in request.GET
        else {
            "case": request.GET.get("case", DEFAULT_CASE),
            "injections": request.GET.get("injections", ""),
            "outages": request.GET.get("outages", ""),
        }
    )
    context: dict[str, Any] = {"form": form, "cases": CASES}
    if "case" in request.GET or "seed" in request.GET:
        try:
            doc = compare(form["case"], _lines(form["injections"]), _lines(form["outages"]))
        except ValueError as exc:
            context["error"] = str(exc)
        else:
            context.update(doc=doc, figure=figure(doc))
    return render(request, "ems/whatif.html", context, status=400 if "error" in context else 200)


class WhatIfView(APIView):
    """POST {"case", "injections": ["BUS:P_MW:Q_MVAR"], "outages": ["FROM-TO"]} → base case and what-if
    (buses by the case's own numbers: vm_pu; generators: q_mvar; losses_mw). Stores nothing."""

    @extend_schema(request=dict, responses={200: dict, 400: dict})
    def post(self, request: Request) -> Response:
        if not role_of(request.user):
            raise PermissionDenied("A role (operator, planner or admin) is needed for what-if studies.")
        data = request.data if isinstance(request.data, dict) else {}
        case = str(data.get("case", DEFAULT_CASE))
        injections, outages = data.get("injections", []), data.get("outages", [])
        if not isinstance(injections, list) or not isinstance(outages, list):
            raise ValidationError({"request": ["injections and outages must be lists of text."]})
        try:
            return Response(compare(case, [str(i) for i in injections], [str(o) for o in outages]))
        except ValueError as exc:
            raise ValidationError({"request": [str(exc)]}) from exc
