"""The DMS half's stages as the EMS records them (DESIGN §2): each DSO times its own work and keeps
it with its dispatch runs — the solve (`timings_ms`), its DERs' confirmations (`result["delivery"]`),
the re-optimization without the DERs that did not confirm (a run that `reoptimizes` the first) —
and the EMS reads them by the request id it sent. One row per stage and feeder."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.cycle import actions
from apps.cycle.engine.schedule import Stage
from apps.cycle.models import Cycle
from apps.dms.models import DispatchRun


def link_dispatches(cycle: Cycle, message_ids: list[int], answered: dict[int, dt.datetime]) -> None:
    """The dispatch runs the DMSs started for this cycle's requests (by the request id they received
    over DNP3) point at the cycle; the DMS stages are recorded per feeder. `answered`: request id →
    when the EMS had the answer."""
    runs = DispatchRun.objects.filter(ems_request_id__in=message_ids).select_related("feeder")
    runs.filter(cycle__isnull=True).update(cycle=cycle)
    firsts = runs.filter(cycle=cycle, reoptimizes__isnull=True, locked_at__isnull=False)
    for run in firsts:
        again = run.reoptimized_by.filter(locked_at__isnull=False).first()
        scope = f"feeder:{run.feeder.name}"
        messaging_end = _record_solve_and_messaging(cycle, run, scope)
        _record_reopt(cycle, run, again, scope)
        end = answered.get(run.ems_request_id or 0)
        _record_dispatch_limits(cycle, again, scope, messaging_end, end)


def _solve_s(run: DispatchRun, parts: tuple[str, ...]) -> float:
    timings = run.result.get("timings_ms") or {}
    return sum(float(timings.get(p, 0.0)) for p in parts) / 1000


def _delivery(run: DispatchRun) -> dict[str, Any]:
    return run.result.get("delivery") or {}


def _times(delivery: dict[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    if "started_at" not in delivery:
        return None
    return dt.datetime.fromisoformat(delivery["started_at"]), dt.datetime.fromisoformat(delivery["ended_at"])


def _delivery_detail(run: DispatchRun) -> str:
    d = _delivery(run)
    text = f"dispatch run {run.pk}: {d.get('confirmed', 0)} set point(s) confirmed"
    if d.get("failed"):
        text += f"; refused or failed: {', '.join(d['failed'])}"
    if d.get("unconfirmed"):
        text += f"; no answer: {', '.join(d['unconfirmed'])}"
    return text[:300]


def _record_solve_and_messaging(cycle: Cycle, run: DispatchRun, scope: str) -> dt.datetime | None:
    began = run.locked_at
    assert began is not None
    stage1_s = _solve_s(run, ("model_ms", "stage1_ms"))
    actions.do_record_stage(
        cycle.pk, Stage.DMS_STAGE1, scope, started_at=began, duration_s=stage1_s,
        detail=f"dispatch run {run.pk}",
    )  # fmt: skip
    times = _times(_delivery(run))
    if times is None:  # the DMS answered without waiting for its DERs (an older DMS)
        return None
    actions.do_record_stage(
        cycle.pk, Stage.DER_MESSAGING, scope, started_at=times[0],
        duration_s=(times[1] - times[0]).total_seconds(), detail=_delivery_detail(run),
    )  # fmt: skip
    return times[1]


def _record_reopt(cycle: Cycle, run: DispatchRun, again: DispatchRun | None, scope: str) -> None:
    """The re-optimization: a second run without the DERs that did not confirm, else the dispatch's
    own stage 2 for voltages stage 1 left outside the limits, else not needed."""
    if again is not None and again.locked_at is not None:
        actions.do_record_stage(
            cycle.pk, Stage.DMS_REOPT, scope, started_at=again.locked_at,
            duration_s=_solve_s(again, ("model_ms", "stage1_ms", "stage2_ms")),
            detail=f"dispatch run {again.pk} without {len(again.left_out)} DER(s) that did not confirm",
        )  # fmt: skip
        return
    stage1_s = _solve_s(run, ("model_ms", "stage1_ms"))
    assert run.locked_at is not None
    actions.do_record_stage(
        cycle.pk, Stage.DMS_REOPT, scope, started_at=run.locked_at + dt.timedelta(seconds=stage1_s),
        duration_s=_solve_s(run, ("stage2_ms",)), skipped=not run.stage2_ran,
        detail="voltage violations after stage 1" if run.stage2_ran else "not needed",
    )  # fmt: skip


def _record_dispatch_limits(
    cycle: Cycle,
    again: DispatchRun | None,
    scope: str,
    messaging_end: dt.datetime | None,
    answered_at: dt.datetime | None,
) -> None:
    """Dispatch of the re-optimized set points and their confirmations, then the answer with the
    next interval's limits; with no re-optimization, only the answer."""
    times = _times(_delivery(again)) if again is not None else None
    if times is not None and again is not None:
        end = max(times[1], answered_at) if answered_at else times[1]
        actions.do_record_stage(
            cycle.pk, Stage.DISPATCH_LIMITS, scope, started_at=times[0],
            duration_s=(end - times[0]).total_seconds(), detail=_delivery_detail(again),
        )  # fmt: skip
    elif messaging_end is not None and answered_at is not None:
        actions.do_record_stage(
            cycle.pk, Stage.DISPATCH_LIMITS, scope, started_at=messaging_end,
            duration_s=max((answered_at - messaging_end).total_seconds(), 0.0),
            detail="limits sent to the EMS with the answer",
        )  # fmt: skip
