from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.der_registry.models import LatestMonitoring
from crest_web.events import publish_now


@shared_task(name="crest.registry.sweep_telemetry")
def sweep_telemetry() -> dict[str, int]:
    """Count active DERs whose telemetry is stale and tell the dashboards.

    Alarms (comm failure per DER) build on this once the alarms app exists.
    """
    now = timezone.now()
    active = (
        LatestMonitoring.objects.select_related("der")
        .filter(der__status="active")
        .only("t", "der__expected_update_s", "der__id")
    )
    stale_ids = [lm.der_id for lm in active.iterator(chunk_size=5000) if lm.is_stale(now)]
    result = {"stale": len(stale_ids), "checked": active.count()}
    publish_now("registry", "telemetry.sweep", {**result, "stale_ids": stale_ids[:500]})
    return result
