"""The DER registry on the IEEE 1547-2018 information model (nameplate, configuration,
monitoring, management), plus location, ownership, communication path and lifecycle."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass
from django.db import models
from django.db.models import ExpressionWrapper, F, Q, Value
from django.db.models.functions import Upper
from django.utils import timezone

from apps.der_registry.engine import device_clock, ieee1547
from apps.der_registry.engine.group_controls import DEFAULT_GROUP_PRIMACY
from apps.der_registry.engine.lifecycle import Status
from apps.standards import dnp3_profile

RATINGS = list(ieee1547.RATING_FIELDS)
STATUS_CHOICES = [(s.value, s.value) for s in Status]
CONTROL_MODE_CHOICES = [(m.value, label) for m, label in ieee1547.CONTROL_MODE_LABELS.items()]
SETPOINT_STATUS_CHOICES = [
    ("issued", "Issued"),
    ("acknowledged", "Acknowledged"),
    ("failed", "Failed"),
    ("superseded", "Superseded"),
]


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


# The editions of IEEE 2030.5 the server speaks (`sep2.editions.EDITIONS`: their namespaces).
SEP2_EDITIONS = [("2013", "IEEE 2030.5-2013"), ("2018", "IEEE 2030.5-2018 / 2023")]
SEP2_EDITION_HELP = (
    "The edition the device speaks over IEEE 2030.5: the server answers it in that edition's namespace. "
    "Updated by itself when the device sends a document in the other one."
)


def _sep2_edition_field() -> models.CharField[str, str]:
    help_text = SEP2_EDITION_HELP
    return models.CharField(
        "IEEE 2030.5 edition", max_length=4, choices=SEP2_EDITIONS, default="2013", help_text=help_text
    )


class DERGroup(models.Model):
    class Kind(models.TextChoices):
        AGGREGATOR = "aggregator", "Aggregator"
        MICROGRID = "microgrid", "Microgrid"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    description = models.CharField(max_length=200, blank=True)
    # The aggregator's own 2030.5 identity, when it talks to our server as one client.
    lfdi = models.CharField(max_length=40, blank=True)
    sep2_edition = _sep2_edition_field()
    # Its own 2030.5 DERProgram's primacy (lower takes precedence; each DER's own program is at
    # group_controls.DEVICE_PROGRAM_PRIMACY).
    primacy = models.PositiveSmallIntegerField(default=DEFAULT_GROUP_PRIMACY)
    # Its program's DefaultDERControl (`engine/mode_settings.py`, as a DER's own default mode); ""
    # with no settings: the program has none, and each member keeps its own.
    default_mode = models.CharField(max_length=20, choices=CONTROL_MODE_CHOICES, blank=True, default="")
    mode_params = models.JSONField(default=dict, blank=True)
    default_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def reached(self) -> models.QuerySet[DER]:
        """The members a group control reaches: active, and talking IEEE 2030.5 (a DNP3 DER has no
        program to read)."""
        return self.ders.filter(status=Status.ACTIVE).exclude(comm_path="dnp3_direct")

    @property
    def has_default(self) -> bool:
        return bool(self.default_mode or self.mode_params)

    @property
    def supported_modes(self) -> list[str]:
        """The modes its default may be in: those every member it reaches supports (any, with none)."""
        modes = list(ieee1547.CONTROL_MODE_LABELS.keys())
        for supported in self.reached().values_list("supported_modes", flat=True):
            modes = [m for m in modes if m in supported]
        return [str(m.value) for m in modes]


GROUP_KIND_CHOICES = DERGroup.Kind.choices  # named for the OpenAPI schema's enum


class RatingFields(models.Model):
    """Nameplate (np_*, as built) and configuration (cfg_*, agreed overrides) ratings."""

    np_active_power_kw = models.FloatField("active power rating at unity PF (kW)")
    np_apparent_power_kva = models.FloatField("apparent power maximum (kVA)")
    np_reactive_injected_kvar = models.FloatField("reactive power injected maximum (kvar)")
    np_reactive_absorbed_kvar = models.FloatField("reactive power absorbed maximum (kvar)")
    np_active_power_charge_kw = models.FloatField("active power charge maximum (kW)", null=True, blank=True)
    np_v_nominal_v = models.FloatField("AC voltage nominal (V)")
    np_v_min_v = models.FloatField("AC voltage minimum (V)")
    np_v_max_v = models.FloatField("AC voltage maximum (V)")

    cfg_active_power_kw = models.FloatField(null=True, blank=True)
    cfg_apparent_power_kva = models.FloatField(null=True, blank=True)
    cfg_reactive_injected_kvar = models.FloatField(null=True, blank=True)
    cfg_reactive_absorbed_kvar = models.FloatField(null=True, blank=True)
    cfg_active_power_charge_kw = models.FloatField(null=True, blank=True)
    cfg_v_nominal_v = models.FloatField(null=True, blank=True)
    cfg_v_min_v = models.FloatField(null=True, blank=True)
    cfg_v_max_v = models.FloatField(null=True, blank=True)
    # IEEE 1547 §10: configuration changes need agreement of the DER operator and the utility.
    cfg_operator_agreed = models.BooleanField(default=False)
    cfg_utility_agreed = models.BooleanField(default=False)
    cfg_agreed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def nameplate(self) -> ieee1547.Ratings:
        return ieee1547.Ratings(**{k: getattr(self, f"np_{k}") for k in RATINGS})

    def configuration(self) -> ieee1547.Ratings:
        return ieee1547.Ratings(**{k: getattr(self, f"cfg_{k}") for k in RATINGS})

    def effective(self) -> dict[str, ieee1547.EffectiveValue]:
        return ieee1547.effective_ratings(
            self.nameplate(), self.configuration(), self.cfg_operator_agreed, self.cfg_utility_agreed
        )


class DERQuerySet(models.QuerySet["DER"]):
    def with_stale_telemetry(self, now: dt.datetime) -> DERQuerySet:
        """DERs whose newest monitoring value is older than their expected update period,
        or that never reported (computed in SQL: this runs every minute over every DER)."""
        deadline = ExpressionWrapper(
            Value(now) - F("expected_update_s") * Value(dt.timedelta(seconds=1)),
            output_field=models.DateTimeField(),
        )
        return self.filter(Q(latest__isnull=True) | Q(latest__t__lt=deadline))


class DER(RatingFields):
    class Compliance(models.TextChoices):
        OK = "ok", "Compliant"
        WARNING = "warning", "Compliance warning"

    name = models.CharField(max_length=64, unique=True)
    serial_number = models.CharField(max_length=64, unique=True)
    der_type = models.CharField("DER type", max_length=12, choices=_choices(ieee1547.DER_TYPES), default="pv")
    manufacturer = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=100, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    normal_category = models.CharField(max_length=1, choices=_choices(ieee1547.NORMAL_CATEGORIES))
    abnormal_category = models.CharField(max_length=3, choices=_choices(ieee1547.ABNORMAL_CATEGORIES))
    supported_modes = ArrayField(models.CharField(max_length=20))

    # Management: the mode of the set point last issued, and the default mode — what the DER does
    # while no set point is in force (2030.5: its DefaultDERControl) — with that mode's settings
    # (`engine/mode_settings.py`: a power factor, a Q, a volt–var or watt–var curve). "" for none:
    # connected and energized, on the device's own settings.
    control_mode = models.CharField(max_length=20, choices=CONTROL_MODE_CHOICES)
    default_mode = models.CharField(max_length=20, choices=CONTROL_MODE_CHOICES, blank=True, default="")
    mode_params = models.JSONField(default=dict, blank=True)

    feeder = models.ForeignKey("dms.Feeder", on_delete=models.PROTECT, related_name="ders")
    bus = models.CharField(max_length=64)
    phases = ArrayField(models.PositiveSmallIntegerField())
    ownership = models.CharField(max_length=12, choices=_choices(ieee1547.OWNERSHIPS))
    comm_path = models.CharField(
        "communication path",
        max_length=16,
        choices=[
            ("dnp3_direct", "DNP3 direct"),
            ("sep2_direct", "IEEE 2030.5 direct"),
            ("via_aggregator", "Via aggregator"),
        ],
    )
    groups = models.ManyToManyField(DERGroup, blank=True, related_name="ders")
    # The feeder file's element this DER was enrolled from (apps/dms/feeder_ders.py): while the DER is
    # active, the network the DMS solves models it here instead of the element's fixed injection.
    feeder_element = models.CharField(
        "feeder file element",
        max_length=100,
        blank=True,
        help_text='The PVSystem, Generator or Storage of the feeder file, "<class>.<name>".',
    )

    dnp3_host = models.CharField("DNP3 host", max_length=255, blank=True)
    dnp3_port = models.PositiveIntegerField("DNP3 port", null=True, blank=True)
    dnp3_outstation_address = models.PositiveIntegerField("DNP3 outstation address", null=True, blank=True)
    dnp3_master_address = models.PositiveIntegerField("DNP3 master address", null=True, blank=True)
    dnp3_tls = models.BooleanField("DNP3 over TLS", default=False)
    # What the DER's DNP3 device profile says: the point map it serves, the variation it parses.
    dnp3_point_map = models.CharField(
        "DNP3 point map",
        max_length=12,
        choices=list(dnp3_profile.POINT_MAPS.items()),
        default=dnp3_profile.DEFAULT_POINT_MAP,
        help_text="The point indices the outstation serves, as its DNP3 device profile lists them.",
    )
    dnp3_ao_variation = models.CharField(
        "DNP3 set point variation",
        max_length=5,
        choices=list(dnp3_profile.AO_VARIATIONS.items()),
        default=dnp3_profile.DEFAULT_AO_VARIATION,
        help_text="The analog output variation the device parses: g41v1/g41v2 for a subset level 2 device.",
    )
    lfdi = models.CharField("LFDI", max_length=40, blank=True)
    sfdi = models.BigIntegerField("SFDI", null=True, blank=True)
    registration_pin = models.CharField("2030.5 registration PIN", max_length=6, blank=True)
    sep2_edition = _sep2_edition_field()
    expected_update_s = models.PositiveIntegerField(
        "expected telemetry update period (s)",
        default=60,
        help_text="A monitoring value older than this is shown as stale.",
    )

    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=Status.PENDING)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    compliance = models.CharField(max_length=8, choices=Compliance.choices, default=Compliance.OK)
    compliance_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DERQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "DER"
        permissions = [
            ("approve_der", "Can move DERs through their lifecycle"),
            ("import_der", "Can bulk-import DERs from CSV"),
            ("record_monitoring", "Can record DER monitoring values"),
            ("issue_setpoint", "Can issue DER set points"),
        ]
        indexes = [
            models.Index(fields=["feeder", "name"]),
            models.Index(fields=["status", "name"]),
            models.Index(fields=["comm_path", "name"]),
            models.Index(fields=["ownership", "name"]),
            models.Index(fields=["compliance", "name"]),
            models.Index(fields=["bus"]),
            models.Index(fields=["lfdi"], opclasses=["varchar_pattern_ops"], name="der_lfdi_prefix"),
            models.Index(fields=["sfdi"]),
            models.Index(fields=["dnp3_host", "dnp3_port"]),
            GinIndex(fields=["phases"], name="der_phases_gin"),
            # Django's icontains is UPPER(col) LIKE UPPER('%q%'): the trigram index must be on UPPER(col).
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="der_name_trgm"),
            GinIndex(OpClass(Upper("serial_number"), name="gin_trgm_ops"), name="der_serial_trgm"),
            # Page ids in name order by an index-only scan (see DeferredJoinPaginator).
            models.Index(fields=["name"], include=["id"], name="der_name_id_cover"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dnp3_host", "dnp3_port", "dnp3_outstation_address"],
                condition=Q(comm_path="dnp3_direct") & ~Q(status="decommissioned"),
                name="der_unique_dnp3_address_per_channel",
            ),
            models.UniqueConstraint(
                fields=["lfdi"], condition=~Q(lfdi="") & ~Q(status="decommissioned"), name="der_unique_lfdi"
            ),
            models.UniqueConstraint(
                fields=["feeder", "feeder_element"],
                condition=~Q(feeder_element="") & ~Q(status="decommissioned"),
                name="der_unique_feeder_element",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def phases_text(self) -> str:
        return ".".join(str(p) for p in self.phases)

    def aggregator(self) -> DERGroup | None:
        return next((g for g in self.groups.all() if g.kind == DERGroup.Kind.AGGREGATOR), None)

    def lineage(self) -> list[DER]:
        """This DER and every device it replaced, newest first (history survives replacement)."""
        chain, current = [self], self.replaces
        while current is not None:
            chain.append(current)
            current = current.replaces
        return chain


class Quality(models.TextChoices):
    GOOD = "good", "Good"
    QUESTIONABLE = "questionable", "Questionable"
    INVALID = "invalid", "Invalid"


class MonitoringFields(models.Model):
    t = models.DateTimeField()
    p_kw = models.FloatField(null=True, blank=True)
    q_kvar = models.FloatField(null=True, blank=True)  # injected into the grid
    v_pu = models.FloatField(null=True, blank=True)
    f_hz = models.FloatField(null=True, blank=True)
    operating_state = models.CharField(
        max_length=16,
        choices=[
            ("on", "On"),
            ("off", "Off"),
            ("standby", "Standby"),
            ("fault", "Fault"),
            ("unknown", "Unknown"),
        ],
        default="unknown",
    )
    connection_status = models.CharField(
        max_length=16,
        choices=[("connected", "Connected"), ("disconnected", "Disconnected"), ("unknown", "Unknown")],
        default="unknown",
    )
    alarm_status = models.CharField(max_length=120, blank=True)
    quality = models.CharField(max_length=12, choices=Quality.choices, default=Quality.GOOD)

    class Meta:
        abstract = True


class MonitoringSample(MonitoringFields):
    """Situational awareness only (IEEE 1547 §10): what the DER reported, when, how trustworthy."""

    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="samples")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-t"]
        # BRIN on t: samples arrive in time order, so a block-range index finds the old ones for the
        # hourly prune (do_prune_history) in a few pages, where a B-tree would cost every insert.
        indexes = [models.Index(fields=["der", "-t"]), BrinIndex(fields=["t"], name="monitoring_t_brin")]

    def __str__(self) -> str:
        return f"{self.der_id} @ {self.t:%Y-%m-%d %H:%M:%S}"


class LatestMonitoring(MonitoringFields):
    """The newest sample of each DER, kept beside the series so lists need no aggregate query."""

    der = models.OneToOneField(DER, on_delete=models.CASCADE, primary_key=True, related_name="latest")
    # Of the sample received last (newest or not): its device time minus its arrival, s, when that
    # is beyond device_clock.CLOCK_TOLERANCE_S; null while the device's clock looks right.
    clock_offset_s = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.der_id} latest @ {self.t:%Y-%m-%d %H:%M:%S}"

    def age_s(self, now: dt.datetime | None = None) -> float:
        return ((now or timezone.now()) - self.t).total_seconds()

    def is_stale(self, now: dt.datetime | None = None) -> bool:
        """Older than the DER's expected update period."""
        return self.age_s(now) > self.der.expected_update_s

    @property
    def clock_problem(self) -> str:
        """ "device clock off by 3257 d (behind)" when the device's clock is far off; "" otherwise."""
        return device_clock.clock_problem(self.clock_offset_s)


class SetPoint(models.Model):
    """A set point issued to a DER, with its source; the management history."""

    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="setpoints")
    issued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(
        max_length=24,
        choices=[
            ("manual", "Manual"),
            ("dms_dispatch", "DMS dispatch"),
            ("capability_study", "Capability study"),
            ("default", "Default control"),
        ],
    )
    control_mode = models.CharField(max_length=20)
    p_limit_kw = models.FloatField(null=True, blank=True)
    q_kvar = models.FloatField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, default="issued", choices=SETPOINT_STATUS_CHOICES)
    note = models.CharField(max_length=200, blank=True)
    # The dispatch run that computed it (by name: the DMS sits above the registry).
    dispatch_run = models.ForeignKey(
        "dms.DispatchRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="setpoints"
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        # A 2030.5 device's newest set points, read on every poll (sep2_setpoints._recent).
        indexes = [models.Index(fields=["der", "-issued_at", "-id"], name="setpoint_der_newest")]

    def __str__(self) -> str:
        return f"{self.control_mode} P≤{self.p_limit_kw} Q={self.q_kvar} ({self.status})"


class LifecycleEvent(models.Model):
    der = models.ForeignKey(DER, on_delete=models.CASCADE, related_name="lifecycle")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    by_name = models.CharField(max_length=150)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status} by {self.by_name}"


class CsvImport(models.Model):
    """An uploaded CSV held between its dry-run preview and the admin's confirmation."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    filename = models.CharField(max_length=200)
    content = models.TextField()
    row_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=12,
        default="previewed",
        choices=[("previewed", "Previewed"), ("committed", "Committed"), ("rejected", "Rejected")],
    )
    committed_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"CSV import {self.filename} ({self.status})"


# The IEEE 2030.5 server's state lives in its own module; imported here so Django registers it.
from apps.der_registry.models.groups import GroupControl  # noqa: E402
from apps.der_registry.models.sep2 import (  # noqa: E402
    Sep2EndDevice,
    Sep2LogEvent,
    Sep2MirrorReading,
    Sep2MirrorUsagePoint,
    Sep2Response,
    Sep2Subscription,
)

__all__ = [
    "DER",
    "CsvImport",
    "DERGroup",
    "GroupControl",
    "LatestMonitoring",
    "LifecycleEvent",
    "MonitoringSample",
    "Quality",
    "Sep2EndDevice",
    "Sep2LogEvent",
    "Sep2MirrorReading",
    "Sep2MirrorUsagePoint",
    "Sep2Response",
    "Sep2Subscription",
    "SetPoint",
]
