"""How many alarms are active and how many of those nobody has acknowledged: one query, for the
nav badge on every page and the live events that keep it current."""

from __future__ import annotations

from django.db.models import Count, Q

from apps.alarms.models import Alarm


def alarm_counts() -> dict[str, int]:
    found = Alarm.objects.filter(cleared_at__isnull=True).aggregate(
        active=Count("id"), unacked=Count("id", filter=Q(acknowledged_at__isnull=True))
    )
    return {"active": found["active"] or 0, "unacked": found["unacked"] or 0}
