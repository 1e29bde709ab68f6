"""The DMS waits for its DERs (DESIGN §2, stages "DER messaging and aggregation" and "dispatch,
re-aggregation, limits"): after a dispatch run for an EMS request has issued its set points, the DMS
answers only once every DER confirmed or refused its set point over DNP3 or IEEE 2030.5, or the
messaging budget ran out. DERs that refused, failed or did not answer are left out and the request
is re-optimized once without them (a new dispatch run pointing at the first by foreign key). Then the
achieved Q the EMS hears is what the confirmed set points give.

Deadlines count from the request's arrival, in the stage budgets of the configured interval
(apps/standards/timing.py), so the answer reaches the EMS before it stops waiting."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from apps.der_registry.models import SetPoint
from apps.standards.timing import stage_budget_s

# The last part of the dispatch stage is kept for the answer to travel (and the EMS to record it).
ANSWER_MARGIN = 0.1


@dataclass(frozen=True)
class Deadlines:
    """Unix times by which the first round's DERs must have confirmed, by which a re-optimization
    may still start, and by which the DMS answers whatever it has."""

    messaging_s: float
    reopt_start_s: float
    answer_s: float
    approval_s: float  # manual mode: the operator approves by then, leaving the DERs half the budget

    @classmethod
    def from_arrival(cls, arrived_s: float, interval_s: float) -> Deadlines:
        def b(stage: str) -> float:
            return stage_budget_s(stage, interval_s)

        messaging = arrived_s + b("dms_stage1") + b("der_messaging")
        return cls(
            approval_s=arrived_s + b("dms_stage1") + 0.5 * b("der_messaging"),
            messaging_s=messaging,
            reopt_start_s=messaging + b("dms_reopt"),
            answer_s=messaging + b("dms_reopt") + (1 - ANSWER_MARGIN) * b("dispatch_limits"),
        )


@dataclass
class Round:
    """One dispatch run of the request and the time its set points went out (None: still solving)."""

    run_id: int
    issued_s: float | None = None


@dataclass
class Waiting:
    """An EMS request the DMS is working on."""

    interval: int
    received_kvar: float
    deadlines: Deadlines
    rounds: list[Round] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """What the DERs made of one run's set points, by DER name."""

    confirmed: tuple[str, ...]
    failed: tuple[str, ...]
    unconfirmed: tuple[str, ...]  # still issued: no answer yet

    @property
    def not_delivered(self) -> tuple[str, ...]:
        return tuple(sorted(self.failed + self.unconfirmed))

    def doc(self, started_s: float, ended_s: float) -> dict[str, Any]:
        """The stored form (DispatchRun.result["delivery"])."""
        return {
            "started_at": _iso(started_s),
            "ended_at": _iso(ended_s),
            "confirmed": len(self.confirmed),
            "failed": list(self.failed),
            "unconfirmed": list(self.unconfirmed),
        }


def delivery_of(run_id: int) -> Delivery:
    """The set points run `run_id` issued, by what their DERs answered (a superseded one was replaced
    by a later set point of the same DER and is nobody's to wait for)."""
    rows = SetPoint.objects.filter(dispatch_run_id=run_id).values_list("der__name", "status")
    by: dict[str, list[str]] = {"acknowledged": [], "failed": [], "issued": []}
    for name, status in rows:
        if status in by:
            by[status].append(name)
    return Delivery(*(tuple(sorted(by[s])) for s in ("acknowledged", "failed", "issued")))


def undelivered_q_kvar(result: dict[str, Any], names: tuple[str, ...]) -> float:
    """The Q injection the run counted on from DERs that never confirmed: the substation draws about
    this much more than the run's power flow said (each such DER taken at no Q; losses aside)."""
    out = set(names)
    return sum(float(sp.get("q_kvar") or 0.0) for sp in result.get("setpoints", []) if sp["name"] in out)


def _iso(t_s: float) -> str:
    return dt.datetime.fromtimestamp(t_s, dt.UTC).isoformat()
