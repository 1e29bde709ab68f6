"""The coordination cycle's record: one Cycle per interval and one StageRun per stage and scope
(the whole cycle, a DSO or a feeder), each timed against its budget (apps/cycle/engine/schedule.py).
OPF runs and dispatch runs point at their cycle by foreign key."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.cycle.engine.schedule import STAGE_LABELS, Outcome


class Cycle(models.Model):
    class Trigger(models.TextChoices):
        BEAT = "beat", "Scheduled"
        MANUAL = "manual", "Run now"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    interval_start = models.DateTimeField(help_text="the wall-clock boundary the cycle belongs to")
    interval_s = models.FloatField()
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ems_fallback = models.BooleanField(default=False, help_text="the OPF used an earlier interval's limits")
    dms_fallback = models.BooleanField(default=False, help_text="a DMS dispatched an earlier request")
    detail = models.CharField(max_length=300, blank=True)
    worker = models.CharField(max_length=120, blank=True, help_text="the Celery worker running its EMS half")

    class Meta:
        ordering = ["-interval_start", "-id"]
        permissions = [
            ("run_cycle", "Can run a cycle now"),
            ("control_cycles", "Can set the interval and pause automatic cycles"),
        ]
        constraints = [
            # A redelivered or duplicated beat tick finds the interval's cycle and starts none.
            models.UniqueConstraint(fields=["interval_start"], name="cycle_one_per_interval"),
        ]

    def __str__(self) -> str:
        return f"cycle {self.interval_start:%Y-%m-%d %H:%M:%S} ({self.status})"


class StageRun(models.Model):
    STAGES = [(s.value, label) for s, label in STAGE_LABELS.items()]
    OUTCOMES = [("running", "Running")] + [(o.value, o.value.capitalize()) for o in Outcome]

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="stages")
    stage = models.CharField(max_length=16, choices=STAGES)
    scope = models.CharField(
        max_length=40, blank=True, help_text='"" for the whole cycle, dso:5, feeder:NAME'
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    budget_s = models.FloatField()
    outcome = models.CharField(max_length=8, choices=OUTCOMES, default="running")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["cycle", "started_at", "id"]
        constraints = [
            # Stage work is idempotent per cycle, stage and scope: a redelivered task finds its row.
            models.UniqueConstraint(
                fields=["cycle", "stage", "scope"], name="stage_once_per_cycle_and_scope"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stage} {self.scope or 'all'} ({self.outcome})"


class CycleControl(models.Model):
    """How the cycles run, set by an admin on the timeline page (one row, pk 1): the interval beat
    follows from its next tick on, and whether automatic cycles are paused. No row: the settings'
    interval, running."""

    interval_s = models.FloatField()
    paused = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"every {self.interval_s:g} s{' (paused)' if self.paused else ''}"
