from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework import serializers

from apps.der_registry.adapters import record_from_der, record_from_values
from apps.der_registry.engine import ieee1547
from apps.der_registry.engine.ieee1547 import DERRecord
from apps.der_registry.models import (
    CONTROL_MODE_CHOICES,
    DER,
    STATUS_CHOICES,
    DERGroup,
    GroupControl,
    MonitoringSample,
    SetPoint,
)
from apps.dms.models import Feeder
from apps.standards import dnp3_profile

RATINGS = list(ieee1547.RATING_FIELDS)
MODES = CONTROL_MODE_CHOICES


class DERWriteSerializer(serializers.Serializer[Any]):
    """Enroll / edit a DER. The columns are those of the CSV format; ratings in kW, kVA, kvar, V."""

    name = serializers.CharField(max_length=64)
    serial_number = serializers.CharField(max_length=64)
    der_type = serializers.ChoiceField(ieee1547.DER_TYPES, default="pv")
    manufacturer = serializers.CharField(max_length=100, allow_blank=True, default="")
    model = serializers.CharField(max_length=100, allow_blank=True, default="")
    firmware_version = serializers.CharField(max_length=50, allow_blank=True, default="")
    active_power_kw = serializers.FloatField()
    apparent_power_kva = serializers.FloatField()
    reactive_injected_kvar = serializers.FloatField()
    reactive_absorbed_kvar = serializers.FloatField()
    active_power_charge_kw = serializers.FloatField(required=False, allow_null=True)
    v_nominal_v = serializers.FloatField()
    v_min_v = serializers.FloatField()
    v_max_v = serializers.FloatField()
    normal_category = serializers.ChoiceField(ieee1547.NORMAL_CATEGORIES, default="B")
    abnormal_category = serializers.ChoiceField(ieee1547.ABNORMAL_CATEGORIES, default="II")
    supported_modes = serializers.ListField(child=serializers.ChoiceField(MODES), default=["active_reactive"])
    control_mode = serializers.ChoiceField(MODES, default="active_reactive")
    feeder = serializers.CharField(max_length=64)
    bus = serializers.CharField(max_length=64)
    phases = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=3), min_length=1, max_length=3
    )
    ownership = serializers.ChoiceField(ieee1547.OWNERSHIPS, default="customer")
    comm_path = serializers.ChoiceField(ieee1547.COMM_PATHS, default="sep2_direct")
    aggregator = serializers.CharField(allow_blank=True, default="")
    microgrids = serializers.ListField(child=serializers.CharField(), default=list)
    dnp3_host = serializers.CharField(allow_blank=True, default="")
    dnp3_port = serializers.IntegerField(required=False, allow_null=True)
    dnp3_outstation_address = serializers.IntegerField(required=False, allow_null=True)
    dnp3_master_address = serializers.IntegerField(required=False, allow_null=True)
    dnp3_tls = serializers.BooleanField(default=False)
    dnp3_point_map = serializers.ChoiceField(
        list(dnp3_profile.POINT_MAPS), default=dnp3_profile.DEFAULT_POINT_MAP
    )
    dnp3_ao_variation = serializers.ChoiceField(
        list(dnp3_profile.AO_VARIATIONS), default=dnp3_profile.DEFAULT_AO_VARIATION
    )
    lfdi = serializers.CharField(allow_blank=True, default="")
    sfdi = serializers.IntegerField(required=False, allow_null=True)
    registration_pin = serializers.CharField(allow_blank=True, default="")
    expected_update_s = serializers.IntegerField(default=60)
    configuration = serializers.DictField(
        child=serializers.FloatField(allow_null=True), required=False, help_text="Overrides: rating → value"
    )

    def validate_configuration(self, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(RATINGS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown rating(s): {', '.join(unknown)}. Known: {', '.join(RATINGS)}."
            )
        return value

    def to_record(self) -> DERRecord:
        data = dict(self.validated_data)
        config = data.pop("configuration", None) or {}
        values = {k: v for k, v in data.items() if k not in RATINGS}
        values.update({f"np_{k}": data.get(k) for k in RATINGS})
        values.update({f"cfg_{k}": config.get(k) for k in RATINGS})
        return record_from_values(values)


def write_data_from_der(der: DER) -> dict[str, Any]:
    """The write representation of a stored DER (a PATCH starts from this)."""
    rec = record_from_der(der)
    names = DERWriteSerializer._declared_fields
    data: dict[str, Any] = {k: getattr(rec, k) for k in names if hasattr(rec, k) and k not in RATINGS}
    data.update({k: getattr(rec.nameplate, k) for k in RATINGS})
    data["configuration"] = {
        k: getattr(rec.configuration, k) for k in RATINGS if getattr(rec.configuration, k) is not None
    }
    data["phases"], data["supported_modes"] = list(rec.phases), list(rec.supported_modes)
    data["microgrids"] = [g.name for g in der.groups.all() if g.kind == "microgrid"]
    return data


class DERReadSerializer(serializers.ModelSerializer[DER]):
    feeder: serializers.SlugRelatedField[Feeder] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    groups: serializers.SlugRelatedField[DERGroup] = serializers.SlugRelatedField(
        slug_field="name", many=True, read_only=True
    )
    nameplate = serializers.SerializerMethodField()
    configuration = serializers.SerializerMethodField()
    effective = serializers.SerializerMethodField()
    monitoring = serializers.SerializerMethodField()

    class Meta:
        model = DER
        fields = [
            "id",
            "name",
            "serial_number",
            "der_type",
            "manufacturer",
            "model",
            "firmware_version",
            "status",
            "compliance",
            "compliance_notes",
            "normal_category",
            "abnormal_category",
            "supported_modes",
            "control_mode",
            "default_mode",
            "mode_params",
            "feeder",
            "bus",
            "phases",
            "feeder_element",
            "ownership",
            "comm_path",
            "groups",
            "dnp3_host",
            "dnp3_port",
            "dnp3_outstation_address",
            "dnp3_master_address",
            "dnp3_tls",
            "dnp3_point_map",
            "dnp3_ao_variation",
            "lfdi",
            "sfdi",
            "sep2_edition",
            "expected_update_s",
            "replaces",
            "nameplate",
            "configuration",
            "effective",
            "monitoring",
            "created_at",
            "updated_at",
        ]

    def get_nameplate(self, der: DER) -> dict[str, float | None]:
        return {k: getattr(der, f"np_{k}") for k in RATINGS}

    def get_configuration(self, der: DER) -> dict[str, Any]:
        return {
            **{k: getattr(der, f"cfg_{k}") for k in RATINGS},
            "operator_agreed": der.cfg_operator_agreed,
            "utility_agreed": der.cfg_utility_agreed,
        }

    def get_effective(self, der: DER) -> dict[str, dict[str, Any]]:
        return {k: {"value": v.value, "source": v.source} for k, v in der.effective().items()}

    def get_monitoring(self, der: DER) -> dict[str, Any] | None:
        latest = getattr(der, "latest", None)
        if latest is None:
            return None
        return {
            "t": latest.t,
            "p_kw": latest.p_kw,
            "q_kvar": latest.q_kvar,
            "v_pu": latest.v_pu,
            "f_hz": latest.f_hz,
            "operating_state": latest.operating_state,
            "connection_status": latest.connection_status,
            "alarm_status": latest.alarm_status,
            "quality": latest.quality,
            "stale": latest.is_stale(timezone.now()),
            "clock_offset_s": latest.clock_offset_s,  # device time − arrival, when a day or more
            "clock_problem": latest.clock_problem,
        }


class MonitoringSerializer(serializers.ModelSerializer[MonitoringSample]):
    t = serializers.DateTimeField(required=False)

    class Meta:
        model = MonitoringSample
        fields = [
            "t",
            "p_kw",
            "q_kvar",
            "v_pu",
            "f_hz",
            "operating_state",
            "connection_status",
            "alarm_status",
            "quality",
            "received_at",
        ]
        read_only_fields = ["received_at"]


class SetPointSerializer(serializers.ModelSerializer[SetPoint]):
    issued_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = SetPoint
        fields = [
            "id",
            "issued_at",
            "issued_by",
            "source",
            "control_mode",
            "p_limit_kw",
            "q_kvar",
            "params",
            "status",
            "note",
        ]
        read_only_fields = ["id", "issued_at", "issued_by", "source", "status"]


class TransitionSerializer(serializers.Serializer[Any]):
    target = serializers.ChoiceField(STATUS_CHOICES)
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class AgreeSerializer(serializers.Serializer[Any]):
    party = serializers.ChoiceField(["operator", "utility"])


class DefaultModeSerializer(serializers.Serializer[Any]):
    """What the DER does while no set point is in force ("" for none) and that mode's settings:
    {"pf": -0.95}, {"q_kvar": 2.0}, {"curve": [[0.92, 0.44], [0.98, 0], [1.02, 0], [1.08, -0.44]]}."""

    default_mode = serializers.ChoiceField([("", "none"), *MODES], allow_blank=True)
    mode_params = serializers.JSONField(default=dict)


class DERGroupSerializer(serializers.ModelSerializer[DERGroup]):
    members = serializers.IntegerField(source="n_members", read_only=True, default=0)
    reached_by_group_controls = serializers.IntegerField(
        source="n_sep2", read_only=True, default=0, help_text="Active members that talk IEEE 2030.5."
    )

    class Meta:
        model = DERGroup
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "primacy",
            "default_mode",
            "mode_params",
            "members",
            "reached_by_group_controls",
        ]
        read_only_fields = ["primacy", "default_mode", "mode_params"]


class GroupControlSerializer(serializers.ModelSerializer[GroupControl]):
    status = serializers.SerializerMethodField()
    responses = serializers.SerializerMethodField()

    class Meta:
        model = GroupControl
        fields = [
            "id",
            "description",
            "created_at",
            "start_at",
            "duration_s",
            "randomize_start_s",
            "randomize_duration_s",
            "connect",
            "energize",
            "max_lim_pct",
            "fixed_var_pct",
            "fixed_pf",
            "target_w_kw",
            "ramp_s",
            "cancelled_at",
            "superseded_by",
            "status",
            "responses",
        ]
        read_only_fields = fields

    def get_status(self, row: GroupControl) -> str:
        return group_control_status(row)

    def get_responses(self, row: GroupControl) -> dict[str, int]:
        keys = ("received", "started", "completed", "refused")
        return {k: int(getattr(row, f"n_{k}", 0)) for k in keys}


def group_control_status(row: GroupControl) -> str:
    """scheduled, active, over, superseded or cancelled, as an operator reads it."""
    now = timezone.now()
    if row.cancelled_at is not None:
        return "cancelled"
    if row.superseded_at is not None:
        return "superseded"
    return "scheduled" if now < row.start_at else "active" if now < row.end_at else "over"


class CsvImportSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()
