"""Capability studies: every result persisted with what is needed to reproduce it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CapabilityStudy(models.Model):
    class Kind(models.TextChoices):
        HEADROOM = "headroom", "Headroom sweep"
        LIVE = "live", "Live curve"
        VTM = "vtm", "Transmission-voltage sweep"
        DAY_AHEAD = "day_ahead", "Day-ahead (24 h)"
        COMPLIANCE = "compliance", "IEEE 1547 compliance options"
        UNBALANCE = "unbalance", "DER phase unbalance"
        PENETRATION = "penetration", "Penetration / oversize sweep"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    feeder = models.ForeignKey("dms.Feeder", on_delete=models.PROTECT, related_name="capability_studies")
    feeder_version = models.ForeignKey("dms.FeederVersion", on_delete=models.PROTECT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)  # 0–1
    error = models.TextField(blank=True)
    # Inputs: headrooms, v_tm, polygon sides, load scale, and the DERs (PV available, ratings).
    params = models.JSONField(default=dict)
    result = models.JSONField(default=dict, blank=True)  # the DESIGN §7 document (+ per-study extras)
    validation = models.JSONField(default=dict, blank=True)
    compute_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_study", "Can run capability studies")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.feeder} ({self.status})"

    @property
    def places_own_pv(self) -> bool:
        """True when the study placed PV the paper's way instead of using the registry's DERs."""
        return self.kind in PLACES_OWN_PV

    @property
    def der_count(self) -> int:
        """DERs the curves were computed with: the units the study placed, or the registry's it used."""
        if self.places_own_pv:
            return int(self.params.get("count", 0))
        return len(self.params.get("pv_units", []))


# Studies that place PV the paper's way themselves instead of using the registry's DERs.
PLACES_OWN_PV = (
    CapabilityStudy.Kind.COMPLIANCE,
    CapabilityStudy.Kind.UNBALANCE,
    CapabilityStudy.Kind.PENETRATION,
)
STUDY_KIND_CHOICES = CapabilityStudy.Kind.choices  # named for the OpenAPI schema's enum
STUDY_STATUS_CHOICES = CapabilityStudy.Status.choices


class FeederProfile(models.Model):
    """A feeder's normalized 24-hour load and PV shapes for day-ahead studies (planners edit them)."""

    feeder = models.OneToOneField("dms.Feeder", on_delete=models.CASCADE, related_name="profile")
    load_shape = models.JSONField()  # 24 factors × nominal load
    pv_shape = models.JSONField()  # 24 factors × available PV
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"day-ahead profile of {self.feeder}"
