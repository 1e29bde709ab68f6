"""Template context for every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.alarms.counts import alarm_counts


def alarm_badge(request: HttpRequest) -> dict[str, object]:
    """The nav's alarm counts for people who may view alarms; counted only when a page shows
    them (lazily), and never for anonymous visitors."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("alarms.view_alarm"):
        return {}
    return {"alarm_badge": SimpleLazyObject(alarm_counts)}
