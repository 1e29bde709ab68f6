"""REST API of the trainer's scenarios: the same checks and permission as the panel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.training.actions import ScenarioError, do_end_scenario, do_start_scenario
from apps.training.models import Scenario
from apps.training.views import RUN, SHOWN


def _allowed(request: Request) -> None:
    if not request.user.has_perm(RUN):
        raise PermissionDenied("Only an admin (a trainer) can start or end scenarios in the plant simulator.")


def scenario_doc(s: Scenario) -> dict[str, Any]:
    return {
        "id": s.pk, "kind": s.kind, "label": s.label(), "feeders": list(s.feeders), "der": s.der,
        "branch": s.branch, "tier": s.tier, "link": s.link, "factor": s.factor,
        "start_at": s.start_at.isoformat(),
        "end_at": s.end_at.isoformat(), "duration_s": s.duration_s, "ended_early": s.ended_early,
        "status": s.status, "plant_note": s.plant_note,
    }  # fmt: skip


class ScenariosView(APIView):
    @extend_schema(operation_id="training_scenarios_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        """The last scenarios, newest first."""
        _allowed(request)
        return Response({"results": [scenario_doc(s) for s in Scenario.objects.all()[:SHOWN]]})

    @extend_schema(operation_id="training_scenarios_create", request=dict, responses={201: dict, 400: dict})
    def post(self, request: Request) -> Response:
        """Start one: {kind, feeders | der | branch, factor?, start_in_s?, duration_s}."""
        _allowed(request)
        if not isinstance(request.data, dict):
            return Response({"error": "Send a JSON object."}, status=400)
        try:
            scenario = do_start_scenario(request.user, "api", dict(request.data))
        except ScenarioError as exc:
            return Response({"error": str(exc)}, status=400)
        return Response(scenario_doc(scenario), status=201)


class ScenarioEndView(APIView):
    @extend_schema(operation_id="training_scenarios_end", request=None, responses={200: dict, 400: dict})
    def post(self, request: Request, pk: int) -> Response:
        """End a running scenario now."""
        _allowed(request)
        try:
            return Response(scenario_doc(do_end_scenario(request.user, "api", pk)))
        except ScenarioError as exc:
            return Response({"error": str(exc)}, status=400)
