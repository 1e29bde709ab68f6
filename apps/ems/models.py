"""EMS volt/var OPF runs and the EMS→DMS messages they produce, stored with the inputs they used."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class OpfRun(models.Model):
    """One volt/var OPF of a transmission case for one interval: inputs, AC-verified result."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    interval_start = models.DateTimeField(db_index=True)
    case = models.CharField(max_length=40)
    # Inputs: outages ["FROM-TO"], DSO interfaces (bus, count, per-feeder capability, base P/Q,
    # PV and DR available), objective weights.
    inputs = models.JSONField(default=dict)
    result = models.JSONField(default=dict)  # the engine's document (buses, generators, shunts, DSOs)
    iterations = models.PositiveIntegerField()
    objective_mw = models.FloatField()  # AC-verified
    losses_mw = models.FloatField()
    losses_mw_before = models.FloatField()
    solve_s = models.FloatField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"OPF {self.case} for {self.interval_start:%Y-%m-%d %H:%M}"


class DsoMessage(models.Model):
    """The EMS→DMS message for one DSO interface and interval (per feeder)."""

    run = models.ForeignKey(OpfRun, on_delete=models.CASCADE, related_name="messages")
    interval_start = models.DateTimeField(db_index=True)
    bus = models.PositiveIntegerField()  # the case's own bus number
    count = models.PositiveIntegerField()  # identical feeders behind the interface
    q_min_kvar = models.FloatField()  # the capability it was requested within
    q_max_kvar = models.FloatField()
    q_request_kvar = models.FloatField()  # injected into the transmission bus, per feeder
    v_pu = models.FloatField()  # substation (transmission-bus) voltage after the dispatch
    pv_curtailment_kw = models.FloatField(default=0.0)
    dr_kw = models.FloatField(default=0.0)
    # The feeder's base demand Q the solve assumed (it draws q_base − q_request); None: older runs.
    q_base_kvar = models.FloatField(null=True, blank=True)
    # The exchange with the DSO over DNP3 (docs/protocols/dnp3-ems-dms.md); answers in the request's
    # frame: per feeder, injected into the transmission bus, measured from q_base_kvar.
    sent_at = models.DateTimeField(null=True, blank=True)
    send_error = models.CharField(max_length=300, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    q_achieved_kvar = models.FloatField(null=True, blank=True)
    q_min_next_kvar = models.FloatField(null=True, blank=True)
    q_max_next_kvar = models.FloatField(null=True, blank=True)
    dms_healthy = models.BooleanField(null=True, blank=True)
    fallback_active = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["run", "bus", "id"]

    def __str__(self) -> str:
        return f"bus {self.bus} × {self.count}: Q {self.q_request_kvar:.0f} kvar, V {self.v_pu:.4f} pu"


class DsoEndpoint(models.Model):
    """Where the EMS reaches a DSO's DMS over DNP3: the outstation serving one interface bus."""

    bus = models.PositiveIntegerField(unique=True, help_text="the case's own bus number of the interface")
    name = models.CharField(max_length=60, unique=True)
    host = models.CharField(max_length=120)
    port = models.PositiveIntegerField()
    address = models.PositiveIntegerField(default=10, help_text="DNP3 outstation link address")
    tls = models.BooleanField(default=False, help_text="DNP3 over TLS (certificates from --tls-dir)")

    class Meta:
        ordering = ["bus"]

    def __str__(self) -> str:
        return f"{self.name} (bus {self.bus}, {self.host}:{self.port})"
