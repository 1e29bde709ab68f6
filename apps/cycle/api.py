"""REST API of the coordination cycle: the last cycles and one cycle, with their stages and links."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.cycle.documents import cycle_doc
from apps.cycle.models import Cycle
from apps.cycle.overview import DsoTile, overview_context
from apps.cycle.views import SHOWN, VIEW


def _allowed(request: Request) -> None:
    if not request.user.has_perm(VIEW):
        raise PermissionDenied("A role (operator, planner or admin) is needed to read the cycles.")


class CyclesView(APIView):
    """GET the last cycles, newest first, each with its stages."""

    @extend_schema(operation_id="cycles_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        _allowed(request)
        cycles = Cycle.objects.prefetch_related("stages")[:SHOWN]
        return Response({"results": [cycle_doc(c) for c in cycles]})


class CycleView(APIView):
    """GET one cycle: its stages against their budgets, its OPF run and dispatch runs."""

    @extend_schema(operation_id="cycles_retrieve", responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        _allowed(request)
        return Response(cycle_doc(get_object_or_404(Cycle.objects.prefetch_related("stages"), pk=pk)))


def _tile_doc(t: DsoTile) -> dict[str, Any]:
    m = t.message
    return {
        "bus": t.endpoint.bus, "name": t.endpoint.name, "feeder_count": t.endpoint.feeder_count,
        "light": t.light, "reason": t.reason, "mode": t.mode, "alarms": t.alarms,
        "interval_start": m.interval_start.isoformat() if m else None,
        "requested_kvar": t.requested_kvar, "achieved_kvar": t.achieved_kvar,
        "q_min_kvar": m.q_min_kvar * m.count if m else None,
        "q_max_kvar": m.q_max_kvar * m.count if m else None,
        "shortfall_kvar": m.dms_q_shortfall_kvar if m else None,
        "shortfall_cause": m.dms_shortfall_cause if m else "",
        "violations_left": m.dms_violations_left if m else None,
    }  # fmt: skip


def _strip_doc(c: Cycle) -> dict[str, Any]:
    start, fallback = c.interval_start.isoformat(), c.ems_fallback or c.dms_fallback
    return {"id": c.pk, "interval_start": start, "status": c.status, "fallback": fallback}


class OverviewView(APIView):
    """GET what the operator's overview shows: the cycle now, the last 12, and each DSO's tile
    (Q as interface totals in kvar, changes from the operating point, + = injected)."""

    @extend_schema(operation_id="overview_retrieve", responses={200: dict})
    def get(self, request: Request) -> Response:
        _allowed(request)
        o = overview_context(timezone.now())
        current, running = o["current"], o["running_stage"]
        return Response(
            {
                "current": cycle_doc(current) if current else None,
                "running_stage": running.stage if running else None,
                "next_cycle_in_s": o["next_in_s"],
                "last_cycles": [_strip_doc(c) for c in o["strip"]],
                "lights": o["lights"],
                "dsos": [_tile_doc(t) for t in o["tiles"]],
            }
        )  # fmt: skip
