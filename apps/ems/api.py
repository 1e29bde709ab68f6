"""REST API of the volt/var OPF: run and store one interval's dispatch, list and read stored runs."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.ems.actions import DMS_VIEW, OpfError, do_run_opf, registered_dsos
from apps.ems.engine.case import DEFAULT_CASE
from apps.ems.engine.dso import DsoInterface, feeder_count, parse_dso
from apps.ems.engine.volt_var_lp import Weights
from apps.ems.models import DsoMessage, OpfRun
from crest_web.accounts.roles import ADMIN, OPERATOR, role_of

DSO_FIELDS = ("bus", "count", "q_min_kvar", "q_max_kvar", "p_kw", "q_kvar", "pv_kw", "dr_kw")
RECENT_RUNS = 50


def dso_from(item: object) -> DsoInterface:
    """A DSO interface from API text (``9x25:-700:700``) or an object with DSO_FIELDS."""
    if isinstance(item, str):
        return parse_dso(item)
    if not isinstance(item, dict) or not {"bus", "count", "q_min_kvar", "q_max_kvar"} <= item.keys():
        raise ValueError(
            "Each DSO needs bus, count, q_min_kvar and q_max_kvar (or the text form 9x25:-700:700)."
        )
    unknown = set(item) - set(DSO_FIELDS)
    if unknown:
        raise ValueError(f"Unknown DSO field(s): {', '.join(sorted(unknown))}.")
    count = feeder_count(item["count"], f"DSO at bus {item['bus']}")  # 1e30 is refused here, unsolved
    try:
        values = {k: float(item[k]) for k in DSO_FIELDS[2:] if item.get(k) is not None}
        bus = item["bus"]
        if isinstance(bus, bool) or int(bus) != bus:
            raise ValueError
        return DsoInterface(bus=int(bus), count=count, **values)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"DSO {item}: bus and count must be whole numbers, the rest numbers.") from None


def _interval(value: object) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            f"Bad interval_start {value!r}: write ISO 8601, e.g. 2026-11-21T14:00:00Z."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def message_json(m: DsoMessage) -> dict[str, Any]:
    return {
        "bus": m.bus,
        "count": m.count,
        "interval_start": m.interval_start.isoformat(),
        "q_min_kvar": m.q_min_kvar,
        "q_max_kvar": m.q_max_kvar,
        "q_request_kvar": m.q_request_kvar,
        "v_pu": m.v_pu,
        "pv_curtailment_kw": m.pv_curtailment_kw,
        "dr_kw": m.dr_kw,
        "q_base_kvar": m.q_base_kvar,
        # the exchange with the DSO's DMS, in the message's frame (docs/protocols/dnp3-ems-dms.md)
        "sent_at": _iso(m.sent_at),
        "send_error": m.send_error,
        "answered_at": _iso(m.answered_at),
        "q_achieved_kvar": m.q_achieved_kvar,
        "q_min_next_kvar": m.q_min_next_kvar,
        "q_max_next_kvar": m.q_max_next_kvar,
        "dms_healthy": m.dms_healthy,
        "fallback_active": m.fallback_active,
        # the DMS's own view: totals over the interface, Q drawn (+ = import)
        **{field: getattr(m, field) for field in DMS_VIEW},
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def run_json(run: OpfRun, full: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": run.pk,
        "case": run.case,
        "interval_start": run.interval_start.isoformat(),
        "created_at": run.created_at.isoformat(),
        "iterations": run.iterations,
        "objective_mw": run.objective_mw,
        "losses_mw": run.losses_mw,
        "losses_mw_before": run.losses_mw_before,
        "messages": [message_json(m) for m in run.messages.all()],
    }
    if full:
        doc.update(inputs=run.inputs, result=run.result)
    return doc


def _parse(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("Send a JSON object.")
    dsos, outages = data.get("dsos"), data.get("outages", [])
    if not isinstance(dsos, list | None) or not isinstance(outages, list):
        raise ValueError("dsos and outages must be lists.")
    case_file = data.get("case_file") or ""
    if not isinstance(case_file, str):
        raise ValueError("case_file must be the text of a MATPOWER case file.")
    weight = data.get("voltage_weight", Weights().voltage)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise ValueError("voltage_weight must be a number.")
    return {
        "case": str(data.get("case", DEFAULT_CASE)),
        "dsos": registered_dsos() if dsos is None else [dso_from(item) for item in dsos],
        "outages": [str(o) for o in outages],
        "interval_start": _interval(data.get("interval_start")),
        "voltage_weight": float(weight),
        "case_file": case_file,
    }


class OpfRunsView(APIView):
    """GET: recent OPF runs with their EMS→DMS messages. POST {"case", "dsos": [{"bus", "count",
    "q_min_kvar", "q_max_kvar", "p_kw"?, "q_kvar"?, "pv_kw"?, "dr_kw"?} or "BUS×COUNT:QMIN:QMAX"],
    "outages": ["FROM-TO"], "interval_start"?, "voltage_weight"?, "case_file"? (MATPOWER text, instead
    of case)}: solve, store, 201 with the run. Without "dsos": the registered DSO interfaces with the
    ranges they last reported; a DSO whose bus is registered must have the registered feeder count.
    Bad input or no AC-verified feasible dispatch: 400 with the reason, nothing stored."""

    @extend_schema(operation_id="ems_opf_list", responses={200: dict})
    def get(self, request: Request) -> Response:
        if not role_of(request.user):
            raise PermissionDenied("A role (operator, planner or admin) is needed to read OPF runs.")
        runs = OpfRun.objects.prefetch_related("messages")[:RECENT_RUNS]
        return Response({"results": [run_json(r, full=False) for r in runs]})

    @extend_schema(request=dict, responses={201: dict, 400: dict})
    def post(self, request: Request) -> Response:
        if role_of(request.user) not in (OPERATOR, ADMIN):
            raise PermissionDenied("Only operators and admins dispatch the volt/var OPF.")
        try:
            args = _parse(request.data)
            run = do_run_opf(
                request.user, "api", args.pop("case"), args.pop("dsos"), args.pop("outages"), **args
            )
        except (ValueError, OpfError) as exc:
            raise ValidationError({"request": [str(exc)]}) from exc
        return Response(run_json(run), status=status.HTTP_201_CREATED)


class OpfRunView(APIView):
    """GET one stored OPF run: inputs, AC-verified result and its EMS→DMS messages."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        if not role_of(request.user):
            raise PermissionDenied("A role (operator, planner or admin) is needed to read OPF runs.")
        return Response(run_json(get_object_or_404(OpfRun.objects.prefetch_related("messages"), pk=pk)))
