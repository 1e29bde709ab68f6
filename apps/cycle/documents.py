"""A cycle and its stages as JSON documents: for live events, the command line, the API and pages."""

from __future__ import annotations

from typing import Any

from apps.cycle.engine.schedule import STAGE_LABELS, Stage
from apps.cycle.models import Cycle, StageRun


def cycle_summary(cycle: Cycle) -> dict[str, Any]:
    """The cycle's own state (what a live event carries)."""
    return {
        "id": cycle.pk,
        "interval_start": cycle.interval_start.isoformat(),
        "interval_s": cycle.interval_s,
        "status": cycle.status,
        "ems_fallback": cycle.ems_fallback,
        "dms_fallback": cycle.dms_fallback,
    }


def stage_doc(s: StageRun) -> dict[str, Any]:
    return {
        "cycle": s.cycle_id,
        "stage": s.stage,
        "label": STAGE_LABELS[Stage(s.stage)],
        "scope": s.scope,
        "started_at": s.started_at.isoformat(),
        "duration_s": s.duration_s,
        "budget_s": s.budget_s,
        "outcome": s.outcome,
        "detail": s.detail,
    }


def cycle_doc(cycle: Cycle) -> dict[str, Any]:
    """The cycle, its stages in the order they ran, and the OPF and dispatch runs it links."""
    return {
        **cycle_summary(cycle),
        "trigger": cycle.trigger,
        "started_at": cycle.started_at.isoformat(),
        "ended_at": cycle.ended_at.isoformat() if cycle.ended_at else None,
        "detail": cycle.detail,
        "opf_runs": list(cycle.opf_runs.values_list("pk", flat=True)),
        "dispatch_runs": list(cycle.dispatch_runs.values_list("pk", flat=True)),
        "stages": [stage_doc(s) for s in cycle.stages.all()],
    }
