"""The alarm philosophy an admin sets: priorities per kind and the shelving limit."""

from __future__ import annotations

from django.db import transaction

from apps.alarms.actions.core import AlarmError, priority_of
from apps.alarms.actions.shelving import shelf_limit_minutes
from apps.alarms.counts import alarm_counts
from apps.alarms.engine import isa182
from apps.alarms.models import Alarm, AlarmPriority, ShelvingLimit
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit


@transaction.atomic
def do_set_alarm_priority(actor: Actor, source: str, kind: str, priority: str) -> int:
    """Set a kind's priority; the active alarms of that kind take it too. How many changed."""
    if kind not in Alarm.Kind.values:
        raise AlarmError(f"Unknown alarm kind {kind!r}; known: {', '.join(Alarm.Kind.values)}.")
    if priority not in Alarm.Priority.values:
        raise AlarmError(f"A priority is one of {', '.join(Alarm.Priority.values)}, not {priority!r}.")
    before = priority_of(kind)
    if before == priority:
        return 0
    row, _ = AlarmPriority.objects.update_or_create(kind=kind, defaults={"priority": priority})
    changed = Alarm.objects.filter(kind=kind, cleared_at__isnull=True).update(priority=priority)
    audit.record(
        actor, source, "alarm.priority", row, before={"priority": before},
        after={"priority": priority, "active_alarms_changed": changed},
    )  # fmt: skip
    publish_on_commit(
        "alarms", "alarm.priority", {"kind": kind, "priority": priority, "counts": alarm_counts()}
    )
    return changed


@transaction.atomic
def do_set_shelf_limit(actor: Actor, source: str, minutes: object) -> int:
    low, high = isa182.SHELF_LIMIT_RANGE
    try:
        value = int(str(minutes))
    except ValueError:
        raise AlarmError(f"The shelving limit is a whole number of minutes, not {minutes!r}.") from None
    if not low <= value <= high:
        raise AlarmError(f"The shelving limit is {low} to {high} minutes (a week), not {value}.")
    before = shelf_limit_minutes()
    row = ShelvingLimit.objects.select_for_update().first() or ShelvingLimit(limit_minutes=value)
    row.limit_minutes = value
    row.save()
    audit.record(
        actor, source, "alarm.shelf_limit", row, before={"minutes": before}, after={"minutes": value}
    )
    return value
