"""REST API of the coordination cycle: the last cycles and one cycle, with their stages and links."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.cycle.documents import cycle_doc
from apps.cycle.models import Cycle
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
