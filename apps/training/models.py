"""A trainer's event sent to the plant simulator (issue #13 item 4): what, where, when and for how
long, who asked, and what the plant said. Shown on the cycle timeline as a marker."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.standards.scenarios import KINDS, LABELS, targets


class Scenario(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Being sent to the plant"
        RUNNING = "running", "Taken by the plant"
        REFUSED = "refused", "Refused by the plant"
        UNDELIVERED = "undelivered", "Plant not reached"

    kind = models.CharField(max_length=16, choices=[(k, LABELS[k]) for k in KINDS])
    feeders = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    der = models.CharField(max_length=64, blank=True)
    branch = models.CharField(max_length=16, blank=True)
    tier = models.CharField(max_length=8, blank=True)  # segment_lost: the network tier
    link = models.CharField(max_length=64, blank=True)  # link_lost: the DSO interface's name
    factor = models.FloatField(default=1.0)
    start_at = models.DateTimeField(db_index=True)
    duration_s = models.FloatField()
    ended_early = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    plant_note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_at", "-pk"]
        permissions = [("run_scenario", "Can start and end training scenarios in the plant simulator")]

    def __str__(self) -> str:
        return f"scenario {self.pk}: {self.label()}"

    @property
    def end_at(self) -> dt.datetime:
        return self.start_at + dt.timedelta(seconds=self.duration_s)

    def phase(self, now: dt.datetime) -> str:
        """Where it stands by the clock: "scheduled", "active" or "over"; "none" for one the plant
        never took (refused, not reached)."""
        if self.status not in (self.Status.QUEUED, self.Status.RUNNING):
            return "none"
        if now < self.start_at:
            return "scheduled"
        return "active" if now < self.end_at else "over"

    def next_change(self, now: dt.datetime) -> dt.datetime | None:
        """When its phase changes next by the clock alone (None: it will not)."""
        phase = self.phase(now)
        return self.start_at if phase == "scheduled" else self.end_at if phase == "active" else None

    def targets(self) -> frozenset[str]:
        return targets(self.kind, self.feeders, self.der, self.branch, self.tier, self.link)

    def label(self) -> str:
        where = (
            ", ".join(self.feeders) or self.der or self.branch or self.link or f"the {self.tier.upper()} tier"
        )
        extra = f" × {self.factor:g}" if self.kind in ("cloud", "load_step") else ""
        return f"{LABELS.get(self.kind, self.kind)} on {where}{extra}"
