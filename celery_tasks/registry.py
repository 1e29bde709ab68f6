from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.der_registry.models import DER
from crest_web import task_names
from crest_web.events import publish_now


@shared_task(name=task_names.REGISTRY_SWEEP_TELEMETRY)
def sweep_telemetry() -> dict[str, int]:
    """Count active DERs whose telemetry is stale (or absent) and tell the dashboards.

    Alarms (comm failure per DER) build on this once the alarms app exists.
    """
    active = DER.objects.filter(status="active")
    stale_ids = list(active.with_stale_telemetry(timezone.now()).order_by("pk").values_list("pk", flat=True))
    result = {"stale": len(stale_ids), "checked": active.count()}
    publish_now("registry", "telemetry.sweep", {**result, "stale_ids": stale_ids[:500]})
    return result
