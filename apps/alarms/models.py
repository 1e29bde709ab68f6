"""Operator alarms: communication failures, limit violations, stage overruns. One active alarm per
(kind, source); an alarm is cleared by the condition going away and acknowledged by a person."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.alarms.engine.isa182 import PRIORITY_MARK, STATE_LABEL, State, stale, state


class AlarmQuerySet(models.QuerySet["Alarm"]):
    def with_shelf(self, now: dt.datetime) -> AlarmQuerySet:
        """Each alarm with `is_shelved`: an open shelf of its kind and source holds it now."""
        holding = AlarmShelf.objects.filter(
            kind=models.OuterRef("kind"),
            source_type=models.OuterRef("source_type"),
            source_id=models.OuterRef("source_id"),
            ended_at__isnull=True,
        ).filter(Q(until__isnull=True) | Q(until__gt=now))
        return self.annotate(is_shelved=models.Exists(holding))


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
        SEGMENT_DOWN = "segment_down", "Field segment down"
        DER_REPORT = "der_report", "DER report conflicts with registry"

    class Priority(models.TextChoices):  # apps/alarms/engine/isa182.py PRIORITIES
        CRITICAL = "critical", "Critical"
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The kind's priority when it was raised (AlarmPolicy; an admin's change reaches active ones).
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
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
    ack_comment = models.CharField(max_length=200, blank=True)
    chattering = models.BooleanField(default=False)  # raised as the 3rd activation within a minute
    # Suppressed by design: what made this alarm redundant (a segment down), "" when not suppressed.
    suppressed_by = models.CharField(max_length=120, blank=True)

    objects = AlarmQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        permissions = [
            ("acknowledge_alarm", "Can acknowledge alarms"),
            ("shelve_alarm", "Can shelve and unshelve alarms"),
        ]
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

    @property
    def state(self) -> State:
        return state(self.active, self.acknowledged_at is not None)

    @property
    def state_label(self) -> str:
        return STATE_LABEL[self.state]

    @property
    def priority_mark(self) -> str:
        return PRIORITY_MARK.get(self.priority, "")

    def stale(self, now: dt.datetime) -> bool:
        return stale(self.raised_at, now, self.active)


class AlarmPriority(models.Model):
    """The site's alarm philosophy as an admin sets it: the priority of one kind of alarm (kinds
    without a row have isa182.DEFAULT_PRIORITY)."""

    kind = models.CharField(max_length=16, unique=True, choices=Alarm.Kind.choices)
    priority = models.CharField(max_length=8, choices=Alarm.Priority.choices)

    class Meta:
        permissions = [("configure_alarms", "Can set alarm priorities and the shelving limit")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.priority}"


class ShelvingLimit(models.Model):
    """The longest an operator may shelve an alarm for (one row; isa182.SHELF_LIMIT_MINUTES until an
    admin sets it)."""

    limit_minutes = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"shelves of at most {self.limit_minutes} min"


class AlarmShelf(models.Model):
    """An operator shelved the alarms of one kind on one source (ISA-18.2 §11): they stay off the
    operator's list, re-activations included, until `until` — or, one-shot, until the alarm clears.
    Kept in the database, so a shelf outlives a restart; `ended_at` says when it ended and why."""

    kind = models.CharField(max_length=16, choices=Alarm.Kind.choices)
    source_type = models.CharField(max_length=24)
    source_id = models.CharField(max_length=64)
    until = models.DateTimeField(null=True, blank=True)  # None: one-shot
    shelved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    shelved_at = models.DateTimeField(auto_now_add=True)
    comment = models.CharField(max_length=200, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=60, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source_type", "source_id"],
                condition=Q(ended_at__isnull=True),
                name="alarm_one_open_shelf_per_kind_and_source",
            )
        ]

    def __str__(self) -> str:
        return f"shelf {self.kind} {self.source_type}:{self.source_id}"

    @property
    def one_shot(self) -> bool:
        return self.until is None


class AlarmOutOfService(models.Model):
    """A source (a DER under maintenance) whose alarms are out of service (ISA-18.2 §12): raised and
    kept, but suppressed, until someone returns it to service."""

    source_type = models.CharField(max_length=24)
    source_id = models.CharField(max_length=64)
    source_label = models.CharField(max_length=120, blank=True)
    reason = models.CharField(max_length=200)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    taken_at = models.DateTimeField(auto_now_add=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id"],
                condition=Q(returned_at__isnull=True),
                name="alarm_one_open_out_of_service_per_source",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id} out of service ({self.reason})"

    @property
    def label(self) -> str:
        """What suppressed_by says of the alarms it holds."""
        return f"out of service: {self.reason}"[:120]
