"""The trainer's comparison (issue #13 item 5): the plant's true state, asked from its instructor API,
beside what the control room believed — the feeder head its RTU reported, the load its DMS
allocated, each DER's telemetry and the set point last sent to it. For a trainer after an exercise
and for anyone checking that the control room sees the grid as it is."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.der_registry.models import DER, SetPoint
from apps.dms.models import DispatchRun, HeadMeasurement
from apps.training.plant_client import call
from apps.training.views import RUN

MOST_DERS = 200


def _head(name: str, truth: dict[str, Any]) -> dict[str, Any]:
    measured = HeadMeasurement.objects.filter(feeder__name=name).order_by("-measured_at").first()
    run = DispatchRun.objects.filter(feeder__name=name, status="done").order_by("-pk").first()
    allocation = (run.result or {}).get("load_allocation") or {} if run else {}
    return {
        "name": name, "truth": truth, "measured": measured, "run": run,
        "model_p_kw": allocation.get("model_p_kw"), "model_q_kvar": allocation.get("model_q_kvar"),
    }  # fmt: skip


def _ders(name: str, truth: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ders = DER.objects.filter(feeder__name=name, name__in=list(truth)).select_related("latest")
    sent = {}
    for sp in SetPoint.objects.filter(der__in=ders).order_by("der_id", "-issued_at").distinct("der_id"):
        sent[sp.der_id] = sp
    for der in ders:
        p_kw, q_kvar, v_pu = truth[der.name]
        latest = getattr(der, "latest", None)
        q_seen = latest.q_kvar if latest is not None else None
        gap = abs(q_kvar - q_seen) if q_seen is not None else float("inf")
        rows.append({"der": der, "p_kw": p_kw, "q_kvar": q_kvar, "v_pu": v_pu, "latest": latest,
                     "sent": sent.get(der.pk), "gap_kvar": gap})  # fmt: skip
    rows.sort(key=lambda r: (-float(r["gap_kvar"]), str(r["der"].name)))
    return rows[:MOST_DERS]


@permission_required(RUN, raise_exception=True)
def truth_page(request: HttpRequest) -> HttpResponse:
    status, state, words = call("GET", "/state")
    feeders = []
    if status == 200 and isinstance(state, dict):
        for name, truth in sorted((state.get("feeders") or {}).items()):
            feeders.append({**_head(name, truth), "ders": _ders(name, truth.get("ders") or {})})
    context = {"error": words if status != 200 else "", "at": (state or {}).get("at"), "feeders": feeders,
               "grid": (state or {}).get("grid")}  # fmt: skip
    return render(request, "training/truth.html", context)
