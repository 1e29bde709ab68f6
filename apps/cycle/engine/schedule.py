"""The coordination cycle's clock and budgets (DESIGN §2; seed 000 §2.2, Fig. 4).

Cycles start on wall-clock boundaries: multiples of the interval counted from the Unix epoch, so
the EMS and every DMS agree on the interval id without talking. The budgets are the seed's for a
5-minute interval and scale with the interval. Collect has no figure in the seed: measurements are
kept continuously by SCADA, so collect only snapshots them; it gets 5 s.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from apps.standards.timing import STAGE_BUDGETS_300_S, check_interval, stage_budget_s

__all__ = ["check_interval"]  # where the cycle's callers have always found it


class Stage(enum.StrEnum):
    """The stages in the order they run (DESIGN §2)."""

    COLLECT = "collect"
    EMS_OPF = "ems_opf"
    EMS_REQUEST = "ems_request"
    DMS_STAGE1 = "dms_stage1"
    DER_MESSAGING = "der_messaging"
    DMS_REOPT = "dms_reopt"
    DISPATCH_LIMITS = "dispatch_limits"


STAGE_LABELS = {
    Stage.COLLECT: "Collect measurements",
    Stage.EMS_OPF: "EMS volt/var OPF",
    Stage.EMS_REQUEST: "EMS → DMS requests",
    Stage.DMS_STAGE1: "DMS stage 1",
    Stage.DER_MESSAGING: "DER messaging and aggregation",
    Stage.DMS_REOPT: "DMS re-optimization",
    Stage.DISPATCH_LIMITS: "Dispatch, re-aggregation, limits to the EMS",
}

# Seconds within a 300 s interval (apps/standards/timing.py, seed 000 §2.2).
BUDGETS_300_S = {stage: STAGE_BUDGETS_300_S[stage.value] for stage in Stage}


class Outcome(enum.StrEnum):
    OK = "ok"
    LATE = "late"
    FAILED = "failed"
    SKIPPED = "skipped"
    FALLBACK = "fallback"


def budgets_s(interval_s: float) -> dict[Stage, float]:
    """Each stage's budget for an interval of `interval_s`, the 5-minute figures scaled."""
    return {stage: stage_budget_s(stage.value, interval_s) for stage in Stage}


def interval_index(t_s: float, interval_s: float) -> int:
    """The interval that Unix time `t_s` falls in: boundaries at multiples of `interval_s`."""
    return math.floor(t_s / interval_s)


def interval_start_s(index: int, interval_s: float) -> float:
    return index * interval_s


def seconds_to_next(t_s: float, interval_s: float) -> float:
    """Countdown from `t_s` to the next boundary (a whole interval exactly on a boundary)."""
    return interval_start_s(interval_index(t_s, interval_s) + 1, interval_s) - t_s


@dataclass(frozen=True)
class Timing:
    duration_s: float
    budget_s: float


def outcome(
    timing: Timing, *, failed: bool = False, skipped: bool = False, fallback: bool = False
) -> Outcome:
    """A stage's outcome: a failure first, then a fallback, a skip, then late against its budget."""
    if failed:
        return Outcome.FAILED
    if fallback:
        return Outcome.FALLBACK
    if skipped:
        return Outcome.SKIPPED
    return Outcome.LATE if timing.duration_s > timing.budget_s else Outcome.OK
