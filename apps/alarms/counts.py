"""How many alarms are active, how many of those nobody has acknowledged and is not shelved, and how
many are shelved: one query, for the nav badge on every page and the live events that keep it
current."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from apps.alarms.models import Alarm


def alarm_counts() -> dict[str, int]:
    found = (
        Alarm.objects.filter(cleared_at__isnull=True)
        .with_shelf(timezone.now())
        .aggregate(
            active=Count("id"),
            unacked=Count("id", filter=Q(acknowledged_at__isnull=True, is_shelved=False)),
            shelved=Count("id", filter=Q(is_shelved=True)),
        )
    )
    return {k: found[k] or 0 for k in ("active", "unacked", "shelved")}
