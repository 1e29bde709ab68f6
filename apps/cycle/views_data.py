"""A cycle as one JSON document: for the command line, the API and the pages alike."""

from __future__ import annotations

from typing import Any

from apps.cycle.engine.schedule import STAGE_LABELS, Stage
from apps.cycle.models import Cycle


def cycle_doc(cycle: Cycle) -> dict[str, Any]:
    """The cycle, its stages in the order they ran, and the OPF and dispatch runs it links."""
    return {
        "id": cycle.pk,
        "interval_start": cycle.interval_start.isoformat(),
        "interval_s": cycle.interval_s,
        "trigger": cycle.trigger,
        "status": cycle.status,
        "ems_fallback": cycle.ems_fallback,
        "dms_fallback": cycle.dms_fallback,
        "started_at": cycle.started_at.isoformat(),
        "ended_at": cycle.ended_at.isoformat() if cycle.ended_at else None,
        "detail": cycle.detail,
        "opf_runs": list(cycle.opf_runs.values_list("pk", flat=True)),
        "dispatch_runs": list(cycle.dispatch_runs.values_list("pk", flat=True)),
        "stages": [
            {
                "stage": s.stage,
                "label": STAGE_LABELS[Stage(s.stage)],
                "scope": s.scope,
                "started_at": s.started_at.isoformat(),
                "duration_s": s.duration_s,
                "budget_s": s.budget_s,
                "outcome": s.outcome,
                "detail": s.detail,
            }
            for s in cycle.stages.all()
        ],
    }
