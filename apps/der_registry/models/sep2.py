"""What the IEEE 2030.5 server keeps per device: registration, responses to DERControls, log events,
subscriptions and metering mirrors."""

from __future__ import annotations

from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from apps.der_registry.models import DER, DERGroup, GroupControl, SetPoint


class Sep2EndDevice(models.Model):
    """A DER's registration with the IEEE 2030.5 server (by itself, or posted by its aggregator)."""

    der = models.OneToOneField(DER, on_delete=models.CASCADE, primary_key=True, related_name="sep2")
    aggregator = models.ForeignKey(DERGroup, null=True, blank=True, on_delete=models.SET_NULL)
    registered_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)
    # What the device last PUT, in SI units: DERCapability, DERSettings, DERStatus, DERAvailability.
    capability = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    status = models.JSONField(default=dict, blank=True)
    availability = models.JSONField(default=dict, blank=True)
    reported_at = models.JSONField(default=dict, blank=True)  # kind → ISO time of the last PUT

    def __str__(self) -> str:
        return f"2030.5 end device of {self.der_id}"


class Sep2Response(models.Model):
    """A device's answer to a DERControl (received, started, completed, superseded, rejected …)."""

    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="sep2_responses")
    # The DERControl answered: one of the DER's set points, or a control of one of its groups.
    setpoint = models.ForeignKey(SetPoint, null=True, on_delete=models.CASCADE, related_name="sep2_responses")
    group_control = models.ForeignKey(
        GroupControl, null=True, blank=True, on_delete=models.CASCADE, related_name="responses"
    )
    subject = models.CharField(max_length=32)
    status = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()  # the device's time
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["der", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.subject} → {self.status}"


class Sep2LogEvent(models.Model):
    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="sep2_log_events")
    created_at = models.DateTimeField()
    function_set = models.PositiveSmallIntegerField()
    code = models.PositiveSmallIntegerField()
    event_id = models.PositiveIntegerField()
    pen = models.BigIntegerField()
    profile = models.PositiveSmallIntegerField()
    details = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"log {self.function_set}/{self.code} of {self.der_id}"


class Sep2Subscription(models.Model):
    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="sep2_subscriptions")
    resource = models.CharField(max_length=200)
    notification_uri = models.CharField(max_length=300)
    limit = models.PositiveIntegerField(default=1)
    encoding = models.PositiveSmallIntegerField(default=0)
    level = models.CharField(max_length=16, default="+S1")
    # The edition the Subscription was written in; its Notifications go out in it.
    edition = models.CharField(max_length=4, default="2013")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.resource} → {self.notification_uri}"


class Sep2MirrorUsagePoint(models.Model):
    """A device's metering mirror (IEEE 2030.5 MirrorUsagePoint): where its P, Q, V, f readings arrive."""

    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="sep2_mirrors")
    mrid = models.CharField(max_length=32, unique=True)
    description = models.CharField(max_length=32, blank=True)
    role_flags = models.PositiveIntegerField()
    service_category = models.PositiveSmallIntegerField()
    status = models.PositiveSmallIntegerField()
    post_rate = models.PositiveIntegerField(null=True, blank=True)
    # mRID → {"description", "uom", "power_of_ten", "flow_direction", "phase", "last_update_s", "last_value"}
    meter_readings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"mirror {self.mrid} of {self.der_id}"


class Sep2MirrorReading(models.Model):
    """One reading a device posted to its mirror, as posted (any unit), kept for a day and served
    back through the Metering function set: the series, not only the last value."""

    mirror = models.ForeignKey(Sep2MirrorUsagePoint, on_delete=models.CASCADE, related_name="readings")
    mr_mrid = models.CharField(max_length=32)  # the MirrorMeterReading it belongs to
    t_s = models.BigIntegerField()  # timePeriod.start (the time it was received when the device sent none)
    value = models.BigIntegerField()  # Int48, in the ReadingType's uom and powerOfTenMultiplier
    quality_flags = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["t_s"]
        constraints = [
            # A device re-posting a reading replaces it; the index also serves range reads and pruning.
            models.UniqueConstraint(fields=["mirror", "mr_mrid", "t_s"], name="sep2_reading_once"),
        ]
        # The hourly prune of every mirror's day-old readings (do_prune_history), by time alone.
        indexes = [BrinIndex(fields=["t_s"], name="sep2_reading_t_brin")]

    def __str__(self) -> str:
        return f"{self.mr_mrid}@{self.t_s}={self.value}"
