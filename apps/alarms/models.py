"""Operator alarms: communication failures, limit violations, stage overruns. One active alarm per
(kind, source); an alarm is cleared by the condition going away and acknowledged by a person."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Alarm(models.Model):
    class Kind(models.TextChoices):
        COMM_FAILURE = "comm_failure", "Communication failure"
        VIOLATION = "violation", "Limit violation"
        OVERRUN = "overrun", "Stage overrun"
        DISPATCH_REFUSED = "dispatch_refused", "Dispatch refused"
        DSO_MISMATCH = "dso_mismatch", "DSO interface mismatch"
        DSO_SHORTFALL = "dso_shortfall", "DSO request not met"
        CYCLE_FAILED = "cycle_failed", "Cycle failed"
        LINK_DOWN = "ems_link_down", "EMS–DMS link down"
        DMS_SILENT = "dms_silent", "DMS not heard from"
        FALLBACK = "fallback", "Fallback active"

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        MAJOR = "major", "Major"
        MINOR = "minor", "Minor"
        INFO = "info", "Info"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MAJOR)
    source_type = models.CharField(max_length=24, help_text="what raised it: der, feeder, dso, stage")
    source_id = models.CharField(max_length=64)
    source_label = models.CharField(max_length=120, blank=True)
    message = models.CharField(max_length=300)
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        permissions = [("acknowledge_alarm", "Can acknowledge alarms")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source_type", "source_id"],
                condition=Q(cleared_at__isnull=True),
                name="alarm_one_active_per_kind_and_source",
            )
        ]
        indexes = [models.Index(fields=["cleared_at", "-raised_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.source_type} {self.source_label or self.source_id}"

    @property
    def active(self) -> bool:
        return self.cleared_at is None
