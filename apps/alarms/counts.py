"""How many alarms are active; how many of those are on the operator's list (neither shelved nor
suppressed: the number the nav badge shows); how many of those nobody has acknowledged; how many
are shelved and how many suppressed — one query, for the nav badge on every page and the live
events that keep it current."""

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
            listed=Count("id", filter=Q(is_shelved=False, suppressed_by="")),
            unacked=Count("id", filter=Q(acknowledged_at__isnull=True, is_shelved=False, suppressed_by="")),
            shelved=Count("id", filter=Q(is_shelved=True)),
            suppressed=Count("id", filter=~Q(suppressed_by="")),
        )
    )
    return {k: found[k] or 0 for k in ("active", "listed", "unacked", "shelved", "suppressed")}
