from __future__ import annotations

from celery import shared_task

from apps.der_registry.demo import play_telemetry
from crest_web import task_names


@shared_task(name=task_names.DEMO_TELEMETRY, ignore_result=True)
def demo_telemetry() -> int:
    """Scheduled only under `make demo` (CREST_DEMO=True): stands in for the field gateways."""
    return play_telemetry()
