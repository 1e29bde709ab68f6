"""The Celery task names, one definition each. Actions enqueue by these names (crest_web.task_queue)
and never import celery_tasks, whose modules import the actions: no import circle. This module
imports nothing, so settings (the beat schedule) can read it too."""

from __future__ import annotations

HEARTBEAT = "crest.heartbeat"
RECOVER_LOST_WORK = "crest.health.recover_lost_work"
REGISTRY_SWEEP_TELEMETRY = "crest.registry.sweep_telemetry"
REGISTRY_PRUNE_HISTORY = "crest.registry.prune_history"
CAPABILITY_RUN_STUDY = "crest.capability.run_study"
DISPATCH_RUN = "crest.dispatch.run"
DISPATCH_SCHEDULED = "crest.dispatch.scheduled"
DISPATCH_REDISPATCH = "crest.dispatch.redispatch"
DISPATCH_CAPABILITY = "crest.dispatch.capability_for_ems"
EMS_SEND_RUN = "crest.ems.send_run"
CYCLE_TICK = "crest.cycle.tick"
CYCLE_EMS_HALF = "crest.cycle.ems_half"
TRAINING_DELIVER = "crest.training.deliver"
TRAINING_END = "crest.training.end"
ALARMS_EXPIRE_SHELVES = "crest.alarms.expire_shelves"
