from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.standards.timing import INTERVAL_S


class Feeder(models.Model):
    """A distribution feeder behind one substation; its network model is versioned."""

    class Mode(models.TextChoices):
        """How the DMS takes the EMS's requests for this feeder (issue #12 item 6)."""

        AUTOMATIC = "automatic", "Automatic: dispatched and sent at once"
        MANUAL = "manual", "Manual: an operator approves the set points before they go out"
        DISABLED = "disabled", "Disabled: EMS requests refused, the feeder holds its set points"

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatch_mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.AUTOMATIC)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def current_version(self) -> FeederVersion | None:
        """The newest imported model version, or None before the first import."""
        return self.versions.order_by("-number").first()


class FeederVersion(models.Model):
    """One import of a feeder model. Re-importing adds a version; old ones stay for replay."""

    feeder = models.ForeignKey(Feeder, related_name="versions", on_delete=models.CASCADE)
    number = models.PositiveIntegerField()
    source_name = models.CharField(max_length=200)
    source_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # The project's own network model (apps.dms.engine.network.Network.to_dict()); empty for
    # versions that carry only the bus list.
    model = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)  # element counts, for lists

    class Meta:
        ordering = ["feeder", "-number"]
        constraints = [models.UniqueConstraint(fields=["feeder", "number"], name="feeder_version_unique")]

    def __str__(self) -> str:
        return f"{self.feeder.name} v{self.number}"

    @property
    def summary_text(self) -> str:
        """The element counts in words: "132 buses, 2 shunt reactors"."""
        return ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in self.summary.items())


class Bus(models.Model):
    version = models.ForeignKey(FeederVersion, related_name="buses", on_delete=models.CASCADE)
    name = models.CharField(max_length=64)  # lower-case, as OpenDSS reports it
    phases = ArrayField(models.PositiveSmallIntegerField())
    base_kv = models.FloatField(help_text="line-to-neutral base voltage, kV")
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    distance_km = models.FloatField(null=True, blank=True, help_text="along the feeder from the source")

    class Meta:
        ordering = ["version", "name"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="bus_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({'.'.join(str(p) for p in self.phases)})"


class DispatchRun(models.Model):
    """One dispatch of an EMS request over a feeder's DERs (seed 000 §3.1.2), with its outcome.

    `locked_at`–`finished_at` is the time the run held the feeder's interlocking lock."""

    class Trigger(models.TextChoices):
        EMS = "ems", "EMS request"
        SCHEDULED = "scheduled", "Scheduled repeat of the last request"
        EVENT = "event", "Event-based re-dispatch"
        MANUAL = "manual", "Manual (operator)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        HELD = "held", "Awaiting approval"
        EXPIRED = "expired", "Not approved in time: nothing sent"

    feeder = models.ForeignKey(Feeder, related_name="dispatch_runs", on_delete=models.CASCADE)
    feeder_version = models.ForeignKey(FeederVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    # The EMS's id of the request it dispatched, as received over the DNP3 EMS–DMS link (the interval
    # id of docs/protocols/dnp3-ems-dms.md); none for a run not asked for by the EMS.
    ems_request_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    # The cycle whose interval it dispatched; none for a manual run (by name: the cycle app sits above).
    cycle = models.ForeignKey(
        "cycle.Cycle", null=True, blank=True, on_delete=models.SET_NULL, related_name="dispatch_runs"
    )
    # The run whose set points some DERs did not confirm: this one re-optimizes the same request
    # without them (`left_out`, their names) — the DMS re-optimization of DESIGN §2.
    reoptimizes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reoptimized_by"
    )
    left_out = models.JSONField(default=list, blank=True)
    # Manual mode: the set points wait for an operator until this time, then nothing is sent.
    approval_deadline = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    q_requested_kvar = models.FloatField()
    v_sub_pu = models.FloatField()
    pv_curtailment_kw = models.FloatField(default=0.0)
    dr_kw = models.FloatField(default=0.0)
    # The interval it dispatches for (the EMS's, as it said over the link): how old a DER's telemetry
    # may be and how far ahead the limits reported back look both follow it.
    interval_s = models.FloatField(default=INTERVAL_S)
    q_achieved_kvar = models.FloatField(null=True, blank=True)
    stage2_ran = models.BooleanField(default=False)
    # Node-phases still outside the voltage limits at the set points issued: a run can be done and
    # still leave some (regulators and capacitors are not the dispatch's to move); it says so.
    violations_left = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)  # set points, violations, shortfalls, exclusions
    error = models.CharField(max_length=500, blank=True)
    worker = models.CharField(max_length=120, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    compute_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_dispatch", "Can approve a dispatch's set points (manual mode)")]

    def __str__(self) -> str:
        return f"dispatch {self.pk} of {self.feeder.name} ({self.status})"

    def status_label(self) -> str:
        """The status as an operator reads it: "Done — 8 voltage violations left" for a run that
        finished with node-phases outside the limits; else the status's own label."""
        if self.status == self.Status.DONE and self.violations_left:
            plural = "s" if self.violations_left != 1 else ""
            return f"Done — {self.violations_left} voltage violation{plural} left"
        return str(self.get_status_display())


class HeadMeasurement(models.Model):
    """What the substation meter at the feeder head read (SCADA): P and Q drawn from the
    transmission system (+ = import) and the voltage. The DMS allocates its feeder's loads to the
    newest one before it dispatches, and publishes it to the EMS as the DSO's operating point."""

    feeder = models.ForeignKey(Feeder, related_name="head_measurements", on_delete=models.CASCADE)
    measured_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    p_kw = models.FloatField()
    q_kvar = models.FloatField()
    v_pu = models.FloatField()
    source = models.CharField(max_length=40, help_text="where the reading came from (API, RTU, demo)")

    class Meta:
        ordering = ["-measured_at", "-pk"]
        indexes = [models.Index(fields=["feeder", "-measured_at"])]
        permissions = [("record_head_measurement", "Can record a substation meter reading")]

    def __str__(self) -> str:
        return f"{self.feeder.name} head at {self.measured_at:%H:%M:%S}"


class CapabilityReport(models.Model):
    """The range of substation Q the DMS computed when the EMS asked for its capability before
    dispatching (the first cycle after start-up, or after the EMS lost the DSO's range): per modelled
    feeder, Q drawn (+ = import), from its DERs now with no PV held back, loads allocated to the
    substation reading. One per feeder and interval: a repeated ask is answered from it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    feeder = models.ForeignKey(Feeder, related_name="capability_reports", on_delete=models.CASCADE)
    interval_id = models.BigIntegerField(help_text="the EMS's id of the interval it asked for")
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    q_min_kvar = models.FloatField(null=True, blank=True)
    q_max_kvar = models.FloatField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["feeder", "interval_id"], name="one_capability_report_per_ask")
        ]

    def __str__(self) -> str:
        return f"{self.feeder.name} capability for interval {self.interval_id}"
