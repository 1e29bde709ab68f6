"""The coordination cycle's timing (DESIGN §2, seed 000 §2.2): the interval every EMS → DMS → DER
exchange repeats on, and how old telemetry may be before it is not trusted."""

from __future__ import annotations

import math

INTERVAL_S = 300.0  # the default interval: 5 minutes
STALE_INTERVALS = 2  # telemetry older than this many intervals is not trusted (issue 6)
INTERVALS_S = (300.0, 600.0, 900.0)  # the intervals an admin may choose: 5, 10 or 15 minutes
SHORTEST_TEST_INTERVAL_S = 10.0  # with CREST_CYCLE_ALLOW_SHORT (tests, demo): shorter intervals

# Each stage's budget within a 300 s interval, in the order the stages run (seed 000 §2.2: 45, 15, 30,
# 120, 30, 60; collect has no figure there and gets 5 s). Budgets scale with the interval. The EMS
# times the cycle against them (apps/cycle/engine/schedule.py); the DMS knows from them how long it
# may wait for its DERs' confirmations before it answers (apps/dms/dso_server.py).
STAGE_BUDGETS_300_S = {
    "collect": 5.0,
    "ems_opf": 45.0,
    "ems_request": 15.0,
    "dms_stage1": 30.0,
    "der_messaging": 120.0,
    "dms_reopt": 30.0,
    "dispatch_limits": 60.0,
}


def stage_budget_s(stage: str, interval_s: float) -> float:
    """`stage`'s budget for an interval of `interval_s`: its 5-minute figure scaled."""
    return STAGE_BUDGETS_300_S[stage] * interval_s / INTERVAL_S


def check_interval(interval_s: float, allow_short: bool = False) -> str:
    """Why `interval_s` cannot be the cycle's interval, or "" when it can."""
    minutes = ", ".join(f"{s / 60:g}" for s in INTERVALS_S)
    if not math.isfinite(interval_s) or interval_s <= 0:
        return f"The interval must be a number of seconds: {minutes} minutes."
    if interval_s in INTERVALS_S:
        return ""
    if allow_short and SHORTEST_TEST_INTERVAL_S <= interval_s < min(INTERVALS_S):
        return ""
    return f"The interval must be {minutes} minutes, not {interval_s:g} s."
