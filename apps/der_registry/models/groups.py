"""Group controls: one DERControl for every member of a DER group, served in the group's own 2030.5
DERProgram (`engine/group_controls.py`, `engine/sep2/groups.py`)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from apps.der_registry.engine.group_controls import GroupControlRequest
from apps.der_registry.models import DERGroup


class GroupControl(models.Model):
    group = models.ForeignKey(DERGroup, on_delete=models.CASCADE, related_name="controls")
    created_at = models.DateTimeField(auto_now_add=True)
    # Issued, cancelled or superseded: what subscribers to the group's controls are notified of.
    changed_at = models.DateTimeField(auto_now=True, db_index=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(max_length=32)
    start_at = models.DateTimeField()
    duration_s = models.PositiveIntegerField()
    randomize_start_s = models.PositiveSmallIntegerField(default=0)
    randomize_duration_s = models.PositiveSmallIntegerField(default=0)
    connect = models.BooleanField(null=True, blank=True)  # opModConnect; None: left alone
    energize = models.BooleanField(null=True, blank=True)  # opModEnergize
    max_lim_pct = models.FloatField(null=True, blank=True)  # opModMaxLimW, % of setMaxW
    fixed_var_pct = models.FloatField(null=True, blank=True)  # opModFixedVar, % of setMaxVar
    ramp_s = models.FloatField(null=True, blank=True)  # rampTms
    target_w_kw = models.FloatField(null=True, blank=True)  # opModTargetW, kW for each device
    fixed_pf = models.FloatField(null=True, blank=True)  # opModFixedPF, signed (EEI)
    # A newer control of the group that sets one of its modes over its interval takes over.
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-start_at", "-id"]
        indexes = [models.Index(fields=["group", "-start_at"])]

    def __str__(self) -> str:
        return f"{self.group} {self.description} at {self.start_at:%Y-%m-%d %H:%M}"

    @property
    def end_at(self) -> dt.datetime:
        return self.start_at + dt.timedelta(seconds=self.duration_s)

    @property
    def modes_text(self) -> str:
        return self.request().words

    def request(self) -> GroupControlRequest:
        return GroupControlRequest(
            self.start_at,
            self.duration_s,
            self.randomize_start_s,
            self.randomize_duration_s,
            self.connect,
            self.energize,
            self.max_lim_pct,
            self.fixed_var_pct,
            self.ramp_s,
            self.description,
            self.target_w_kw,
            self.fixed_pf,
        )
