"""The substation meter at each feeder head (issue #12 items 3–4): readings recorded (from SCADA over
the API, or the demo), the newest fresh one looked up for load allocation and for the DSO's operating
point on the EMS link. Readings are telemetry: published live, not audited one by one."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.dms.engine.load_allocation import HeadMeasurement as Reading
from apps.dms.engine.load_allocation import check_measurement
from apps.dms.models import Feeder, HeadMeasurement
from apps.standards.timing import INTERVAL_S, STALE_INTERVALS
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit

MAX_ABS_KW = 1e6  # one feeder head: a gigawatt is a unit error, not a measurement
FUTURE_SLACK_S = 60.0  # clocks drift; a reading further ahead than this has a wrong time


class HeadError(ValueError):
    """A meter reading refused; the message says why in plain words."""


@dataclass(frozen=True)
class Fresh:
    """The newest reading young enough to trust, and its age."""

    reading: Reading
    measured_at: dt.datetime
    age_s: float
    pk: int


def _number(values: dict[str, Any], name: str, unit: str) -> float:
    raw = values.get(name)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise HeadError(f"{name} must be a number of {unit}, not {raw!r}.") from None
    if not math.isfinite(value):
        raise HeadError(f"{name} must be a finite number of {unit}.")
    return value


def _when(raw: object, now: dt.datetime) -> dt.datetime:
    if raw in (None, ""):
        return now
    when = raw if isinstance(raw, dt.datetime) else None
    if isinstance(raw, str):
        try:
            when = dt.datetime.fromisoformat(raw)
        except ValueError:
            when = None
    if when is None:
        raise HeadError(f"measured_at must be an ISO 8601 time such as 2026-12-04T21:00:00Z, not {raw!r}.")
    if when.tzinfo is None:
        raise HeadError("measured_at must say its time zone (for example …Z for UTC).")
    if (when - now).total_seconds() > FUTURE_SLACK_S:
        raise HeadError(f"measured_at {when.isoformat()} is in the future; check the meter's clock.")
    return when


@transaction.atomic
def do_record_head_measurement(
    actor: Actor, source: str, feeder_name: str, values: dict[str, Any]
) -> HeadMeasurement:
    """Store one reading {p_kw, q_kvar, v_pu, measured_at?}; HeadError (nothing stored) if refused."""
    feeder = Feeder.objects.filter(name=feeder_name).first()
    if feeder is None:
        raise HeadError(f"There is no feeder {feeder_name!r}; import it first.")
    p_kw, q_kvar = _number(values, "p_kw", "kW"), _number(values, "q_kvar", "kvar")
    v_pu = _number(values, "v_pu", "pu")
    for name, value in (("p_kw", p_kw), ("q_kvar", q_kvar)):
        if abs(value) > MAX_ABS_KW:
            raise HeadError(f"{name} = {value:g} is beyond any feeder head; check the meter's units.")
    problem = check_measurement(Reading(p_kw, q_kvar, v_pu))
    if problem:
        raise HeadError(problem[0].upper() + problem[1:] + ".")
    when = _when(values.get("measured_at"), timezone.now())
    row = HeadMeasurement.objects.create(
        feeder=feeder, measured_at=when, p_kw=p_kw, q_kvar=q_kvar, v_pu=v_pu, source=source[:40]
    )
    publish_on_commit(
        "cycle",
        "dms.head_measurement",
        {"feeder": feeder.name, "p_kw": p_kw, "q_kvar": q_kvar, "v_pu": v_pu, "t": when.isoformat()},
    )
    return row


def fresh_head(
    feeder_name: str, interval_s: float = INTERVAL_S, now: dt.datetime | None = None
) -> Fresh | None:
    """The newest reading of the feeder's head no older than two intervals (like DER telemetry), or
    None: then the DMS solves at the model's own load and says so."""
    now = now or timezone.now()
    oldest = now - dt.timedelta(seconds=STALE_INTERVALS * interval_s)
    row = (
        HeadMeasurement.objects.filter(feeder__name=feeder_name, measured_at__gte=oldest)
        .order_by("-measured_at", "-pk")
        .first()
    )
    if row is None:
        return None
    age = max((now - row.measured_at).total_seconds(), 0.0)
    return Fresh(Reading(row.p_kw, row.q_kvar, row.v_pu), row.measured_at, age, row.pk)
