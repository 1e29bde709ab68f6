from __future__ import annotations

from celery import shared_task

from apps.der_registry.demo import acknowledge_played_setpoints, play_telemetry
from crest_web import task_names


@shared_task(name=task_names.DEMO_TELEMETRY, ignore_result=True)
def demo_telemetry() -> int:
    """Scheduled only under `make demo` (CREST_DEMO=True): stands in for the field gateways."""
    return play_telemetry()


@shared_task(name=task_names.DEMO_ACKNOWLEDGE, ignore_result=True)
def demo_acknowledge() -> int:
    """Scheduled only under `make demo`: the played DERs confirm their set points."""
    return acknowledge_played_setpoints()
