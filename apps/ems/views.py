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
from apps.ems.engine.contingency import screen
from apps.ems.engine.dso import DSO_SYNTAX, parse_dso
from apps.ems.engine.opf import run_opf
from apps.ems.engine.whatif import run_whatif
from apps.ems.plots import oneline
from apps.standards.ansi import V_MAX_PU, V_MIN_PU
from crest_web.accounts.roles import role_of

SEED_SCENARIO = {  # seed 004 §VI: DER at bus 7, line 5-6 out, the T-D system's DSOs at buses 5, 7, 9
    "case": "case9",
    "injections": "7:45:22",
    "outages": "5-6",
    "dsos": "5x22:-700:700\n7x32:-700:700\n9x25:-700:700",
    "opf": "on",
    "n1": "all",
}


def compare(case: str, injections: list[str], outages: list[str]) -> dict[str, Any]:
    """The base case and the what-if, side by side (ValueError with the reason on bad input)."""
    parsed = [parse_injection(text) for text in injections]
    before_run, after_run = run_whatif(case), run_whatif(case, parsed, outages)
    before, after = before_run.as_json(), after_run.as_json()
    buses = [
        {
            "bus": b,
            "before": before["buses"][b],
            "after": v,
            "delta": round(v - before["buses"][b], 5),
            "violation": not V_MIN_PU <= v <= V_MAX_PU,
        }
        for b, v in after["buses"].items()
    ]
    gens = [
        {"bus": g, "before": before["generators"].get(g), "after": q} for g, q in after["generators"].items()
    ]
    branches = [
        {"branch": name, "before": before_run.branches.get(name, 0.0), "after": pct, "over": pct > 100}
        for name, pct in after_run.branches.items()
    ]
    return {
        "case": case,
        "injections": injections,
        "outages": outages,
        "before": before,
        "after": after,
        "buses": buses,
        "generators": gens,
        "branches": branches,
        "oneline": oneline(case, after["buses"], after_run.branches, "One-line: what-if (voltage, loading)"),
    }


def opf_study(case: str, injections: list[str], outages: list[str], dsos: list[str]) -> dict[str, Any]:
    """The volt/var OPF of the what-if (nothing stored): its dispatch and the what-if beside it."""
    result = run_opf(
        case, [parse_dso(t) for t in dsos], outages, injections=[parse_injection(t) for t in injections]
    )
    doc = result.as_json()
    doc["rows"] = [
        {"bus": b, "before": result.buses_before[b], "after": v, "violation": not V_MIN_PU <= v <= V_MAX_PU}
        for b, v in result.buses.items()
    ]
    doc["oneline"] = oneline(case, result.buses, result.branches, "One-line: after the volt/var OPF")
    return doc


def figure(doc: dict[str, Any]) -> dict[str, Any]:
    fig = go.Figure()
    x = [f"bus {r['bus']}" for r in doc["buses"]]
    fig.add_trace(
        go.Bar(x=x, y=[r["before"] for r in doc["buses"]], name="base case", marker_color="#5b7085")
    )
    fig.add_trace(go.Bar(x=x, y=[r["after"] for r in doc["buses"]], name="what-if", marker_color="#4aa3ff"))
    for level in (V_MIN_PU, V_MAX_PU):
        fig.add_hline(y=level, line={"color": "#f85149", "dash": "dash", "width": 1})
    fig.update_layout(
        title="Bus voltages (pu)", barmode="group", yaxis={"range": [0.85, 1.1]}, height=420, **DARK
    )
    return fig.to_plotly_json()


def lines(text: str) -> list[str]:
    """One item per line or comma (the what-if's fields and the OPF form's)."""
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def whatif_page(request: HttpRequest) -> HttpResponse:
    if not role_of(request.user):
        return render(request, "403.html", status=403)
    form = (
        dict(SEED_SCENARIO) if "seed" in request.GET else {k: request.GET.get(k, "") for k in SEED_SCENARIO}
    )
    form["case"] = form["case"] or DEFAULT_CASE
    context: dict[str, Any] = {"form": form, "cases": CASES, "dso_syntax": DSO_SYNTAX}
    if "case" in request.GET or "seed" in request.GET:
        try:
            context.update(_studies(form))
        except ValueError as exc:
            context["error"] = str(exc)
    return render(request, "ems/whatif.html", context, status=400 if "error" in context else 200)


def _studies(form: dict[str, str]) -> dict[str, Any]:
    """The what-if, and the N-1 screening and OPF when asked for; ValueError on the first bad input."""
    injections, outages = lines(form["injections"]), lines(form["outages"])
    doc = compare(form["case"], injections, outages)
    found: dict[str, Any] = {"doc": doc, "figure": figure(doc)}
    if form.get("n1", "").strip():
        rows = screen(form["case"], lines(form["n1"]), [parse_injection(t) for t in injections])
        found["n1"] = [r.as_json() for r in rows]
    if form.get("opf"):
        found["opf"] = opf_study(form["case"], injections, outages, lines(form["dsos"]))
    return found


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
            doc = compare(case, [str(i) for i in injections], [str(o) for o in outages])
        except ValueError as exc:
            raise ValidationError({"request": [str(exc)]}) from exc
        doc.pop("oneline")  # a figure for the page, not data
        return Response(doc)
