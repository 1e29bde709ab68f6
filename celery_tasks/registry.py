from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.der_registry import actions
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


@shared_task(name=task_names.REGISTRY_PRUNE_HISTORY)
def prune_history() -> dict[str, int]:
    """Hourly (the beat schedule): monitoring history past CREST_MONITORING_KEEP_DAYS, mirrored
    2030.5 readings past a day."""
    return actions.do_prune_history(None, "scheduler", settings.CREST_MONITORING_KEEP_DAYS)
