"""How many alarms are active, how many of those nobody has acknowledged (and nobody shelved, and no
design suppressed), and how many are shelved or suppressed: one query, for the nav badge on every
page and the live events that keep it current."""

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
            unacked=Count("id", filter=Q(acknowledged_at__isnull=True, is_shelved=False, suppressed_by="")),
            shelved=Count("id", filter=Q(is_shelved=True)),
            suppressed=Count("id", filter=~Q(suppressed_by="")),
        )
    )
    return {k: found[k] or 0 for k in ("active", "unacked", "shelved", "suppressed")}
