"""EMS volt/var OPF runs and the EMS→DMS messages they produce, stored with the inputs they used."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.ems.engine.dso import RegisteredInterface
from apps.ems.engine.dso_answer import dms_view


class OpfRun(models.Model):
    """One volt/var OPF of a transmission case for one interval: inputs, AC-verified result."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    interval_start = models.DateTimeField(db_index=True)
    # The cycle that ran it; none for an operator's own run (by name: the cycle app sits above).
    cycle = models.ForeignKey(
        "cycle.Cycle", null=True, blank=True, on_delete=models.SET_NULL, related_name="opf_runs"
    )
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
    dms_healthy = models.BooleanField(null=True, blank=True)  # the DMS runs and dispatched it
    fallback_active = models.BooleanField(null=True, blank=True)
    # The DMS's own view of the exchange, in the wire's frame: totals over the interface, Q drawn from
    # the transmission system (+ = import). None: not answered, or by a DMS that did not say.
    dms_feeder_count = models.PositiveIntegerField(null=True, blank=True)
    dms_q_received_kvar = models.FloatField(null=True, blank=True)
    dms_q_received_per_feeder_kvar = models.FloatField(null=True, blank=True)
    dms_q_achieved_kvar = models.FloatField(null=True, blank=True)
    dms_q_shortfall_kvar = models.FloatField(null=True, blank=True)
    dms_shortfall_cause = models.CharField(max_length=40, blank=True)
    dms_violations_left = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "bus", "id"]

    def __str__(self) -> str:
        return f"bus {self.bus} × {self.count}: Q {self.q_request_kvar:.0f} kvar, V {self.v_pu:.4f} pu"

    @property
    def dms_view(self) -> str:
        """What the DMS said it received, achieved and fell short of (totals drawn); "" if it did not."""
        return dms_view(
            self.dms_q_received_kvar,
            self.dms_feeder_count,
            self.dms_q_achieved_kvar,
            self.dms_q_shortfall_kvar,
            self.dms_shortfall_cause,
            self.dms_violations_left,
        )

    @property
    def count_mismatch(self) -> bool:
        """The DMS answered counting other feeders than this message did."""
        return self.dms_feeder_count is not None and self.dms_feeder_count != self.count


class DsoEndpoint(models.Model):
    """A DSO's registered interface: where the EMS reaches its DMS over DNP3 (the outstation serving
    one interface bus), what the OPF needs to know of it, and the range it last reported."""

    bus = models.PositiveIntegerField(unique=True, help_text="the case's own bus number of the interface")
    name = models.CharField(max_length=60, unique=True)
    host = models.CharField(max_length=120)
    port = models.PositiveIntegerField()
    address = models.PositiveIntegerField(default=10, help_text="DNP3 outstation link address")
    tls = models.BooleanField(default=False, help_text="DNP3 over TLS (certificates from --tls-dir)")
    feeder_count = models.PositiveIntegerField(
        default=1, help_text="identical feeders behind the bus: the DMS's --dso-feeder NAME:COUNT"
    )
    p_base_kw = models.FloatField(
        null=True, blank=True, help_text="base demand P per feeder (kW); empty: a share of the case's load"
    )
    q_base_kvar = models.FloatField(
        null=True, blank=True, help_text="base demand Q per feeder (kvar); give it with the base P"
    )
    # The capability the DSO reported in its latest healthy answer, per feeder, Q injected into the
    # transmission bus measured from q_base_kvar: the next OPF's default range.
    q_min_kvar = models.FloatField(null=True, blank=True, help_text="last reported range, per feeder")
    q_max_kvar = models.FloatField(null=True, blank=True, help_text="last reported range, per feeder")
    range_reported_at = models.DateTimeField(null=True, blank=True)
    # The base demand Q (per feeder) the range above is measured from: the same absolute limits
    # hold when the OPF takes another base (the measured one), the range moving with it.
    range_q_base_kvar = models.FloatField(null=True, blank=True)
    # The operating point the EMS read at the cycle's collect: the substation meter, per feeder.
    p_measured_kw = models.FloatField(null=True, blank=True)
    q_measured_kvar = models.FloatField(null=True, blank=True)
    v_measured_pu = models.FloatField(null=True, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["bus"]

    def __str__(self) -> str:
        return f"{self.name} (bus {self.bus}, {self.host}:{self.port})"

    def registered(self) -> RegisteredInterface:
        return RegisteredInterface(
            self.bus,
            self.name,
            self.feeder_count,
            self.p_base_kw,
            self.q_base_kvar,
            self.q_min_kvar,
            self.q_max_kvar,
        )
