from __future__ import annotations

from typing import Any

from django import forms
from django.forms.models import fields_for_model

from apps.der_registry.adapters import record_from_values
from apps.der_registry.engine import csv_format, curves, ieee1547, mode_settings
from apps.der_registry.engine.ieee1547 import DERRecord, Issue
from apps.der_registry.models import DER, DERGroup
from apps.dms.models import Feeder

RATINGS = list(ieee1547.RATING_FIELDS)
SECTIONS: list[tuple[str, list[str]]] = [
    ("Identity", ["name", "serial_number", "der_type", "manufacturer", "model", "firmware_version"]),
    ("Nameplate (as built)", [f"np_{k}" for k in RATINGS] + ["normal_category", "abnormal_category"]),
    ("Configuration (overrides, need agreement of DER operator and utility)", [f"cfg_{k}" for k in RATINGS]),
    ("Management", ["supported_modes", "control_mode"]),
    (
        "Location and ownership",
        ["feeder", "bus", "phases", "ownership", "comm_path", "aggregator", "microgrids"],
    ),
    (
        "Communication",
        [
            "dnp3_host",
            "dnp3_port",
            "dnp3_outstation_address",
            "dnp3_master_address",
            "dnp3_tls",
            "dnp3_point_map",
            "dnp3_ao_variation",
            "lfdi",
            "sfdi",
            "registration_pin",
            "expected_update_s",
        ],
    ),
]
_MODEL_FIELDS = [
    f
    for _, names in SECTIONS
    for f in names
    if f not in ("feeder", "phases", "supported_modes", "aggregator", "microgrids")
]


class DERForm(forms.Form):
    """Enroll / edit form. Field checks beyond types come from the engine, via the action."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(DER, fields=_MODEL_FIELDS))
        for key in RATINGS:
            unit = str(self.fields[f"np_{key}"].label).rsplit("(", 1)[-1]
            self.fields[f"cfg_{key}"].label = f"Configured {ieee1547.RATING_FIELDS[key]} ({unit}"
            self.fields[f"cfg_{key}"].required = False
        self.fields["feeder"] = forms.ModelChoiceField(Feeder.objects.all(), to_field_name="name")
        self.fields["phases"] = forms.TypedMultipleChoiceField(
            choices=[(1, "1"), (2, "2"), (3, "3")], coerce=int, widget=forms.CheckboxSelectMultiple
        )
        self.fields["supported_modes"] = forms.MultipleChoiceField(
            choices=[(m.value, lbl) for m, lbl in ieee1547.CONTROL_MODE_LABELS.items()],
            widget=forms.CheckboxSelectMultiple,
            initial=["active_reactive"],
        )
        self.fields["aggregator"] = forms.ModelChoiceField(
            DERGroup.objects.filter(kind="aggregator"),
            to_field_name="name",
            required=False,
            help_text="Required when the path is 'via aggregator'.",
        )
        self.fields["microgrids"] = forms.ModelMultipleChoiceField(
            DERGroup.objects.filter(kind="microgrid"), to_field_name="name", required=False
        )
        for name in ("dnp3_point_map", "dnp3_ao_variation"):  # only a DNP3 DER needs them; blank: default
            self.fields[name].required = False
        self.order_fields([f for _, names in SECTIONS for f in names])

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in SECTIONS]

    def to_record(self) -> DERRecord:
        data = dict(self.cleaned_data)
        data["feeder"] = data["feeder"].name
        data["aggregator"] = data["aggregator"].name if data.get("aggregator") else ""
        data["lfdi"] = (data.get("lfdi") or "").strip()
        for name in ("dnp3_point_map", "dnp3_ao_variation"):
            data[name] = data.get(name) or None  # left blank: the record's default
        return record_from_values(data)

    def group_names(self) -> list[str]:
        return [g.name for g in self.cleaned_data.get("microgrids") or []]

    def add_issues(self, issues: list[Issue]) -> None:
        """Show engine issues beside the fields they are about."""
        for issue in issues:
            name = f"np_{issue.field}" if issue.field in ieee1547.RATING_FIELDS else issue.field
            self.add_error(name if name in self.fields else None, issue.message)


def initial_from_der(der: DER) -> dict[str, Any]:
    initial: dict[str, Any] = {name: getattr(der, name) for name in _MODEL_FIELDS}
    aggregator = der.aggregator()
    initial.update(
        feeder=der.feeder.name,
        phases=der.phases,
        supported_modes=der.supported_modes,
        aggregator=aggregator.name if aggregator else None,
        microgrids=[g.name for g in der.groups.filter(kind="microgrid")],
    )
    return initial


def initial_from_record(rec: DERRecord) -> dict[str, Any]:
    """Form values of a record that is not yet a DER (e.g. one built from a feeder file's element);
    empty values stay empty for the admin to fill."""
    initial: dict[str, Any] = {
        name: getattr(rec, name)
        for name in _MODEL_FIELDS
        if hasattr(rec, name) and getattr(rec, name) not in ("", None)
    }
    initial.update({f"np_{k}": getattr(rec.nameplate, k) for k in RATINGS})
    initial.update({f"cfg_{k}": getattr(rec.configuration, k) for k in RATINGS})
    initial.update(
        feeder=rec.feeder,
        phases=list(rec.phases),
        supported_modes=list(rec.supported_modes),
        aggregator=rec.aggregator or None,
    )
    return initial


class CsvUploadForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV with the export's columns; at most 20 MB.")

    def clean_file(self) -> str:
        try:
            return csv_format.decode_upload(self.cleaned_data["file"].read())
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class TransitionForm(forms.Form):
    target = forms.CharField()
    reason = forms.CharField(required=False, max_length=300)


class SetPointForm(forms.Form):
    control_mode = forms.ChoiceField(label="Mode")
    p_limit_kw = forms.FloatField(required=False, label="P limit (kW)")
    q_kvar = forms.FloatField(required=False, label="Q (kvar, + = injected)")
    pf = forms.FloatField(required=False, label="Power factor (− = absorbing vars)")
    curve = forms.CharField(required=False, label="Curve (x Q; …)", max_length=400)
    note = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, der: DER, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"control_mode": der.control_mode})
        super().__init__(*args, **kwargs)
        field = self.fields["control_mode"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(m, ieee1547.mode_label(m)) for m in der.supported_modes]
        eff = {k: v.value for k, v in der.effective().items()}
        self.fields["p_limit_kw"].help_text = f"0–{eff['active_power_kw']:g} kW"
        self.fields[
            "q_kvar"
        ].help_text = f"−{eff['reactive_absorbed_kvar']:g} to +{eff['reactive_injected_kvar']:g} kvar"
        if ieee1547.ControlMode.CONSTANT_PF not in der.supported_modes:
            del self.fields["pf"]  # only the constant power factor mode takes one
        else:
            self.fields["pf"].help_text = "constant power factor mode only, e.g. 0.95 or −0.95"
        self._curve_help(der)

    def _curve_help(self, der: DER) -> None:
        """The curve field for a DER that is sent curves (2030.5) in a curve mode it supports."""
        if der.comm_path == "dnp3_direct" or not set(curves.CURVE_MODES) & set(der.supported_modes):
            del self.fields["curve"]
            return
        self.fields["curve"].help_text = (
            "volt–var or watt–var only: V pu (or P as a fraction of the rating) and Q as a fraction "
            "of the available var, e.g. 0.92 0.44; 0.98 0; 1.02 0; 1.08 -0.44; empty: the DER's "
            "own default curve, else IEEE 1547 category B"
        )

    def clean_curve(self) -> list[list[float]] | None:
        return _points(self.cleaned_data["curve"], "0.92 0.44")

    def setpoint(self) -> dict[str, Any]:
        """The cleaned form as do_issue_setpoint takes it: the power factor and the curve are the
        mode's parameters (each only with its mode)."""
        values = dict(self.cleaned_data)
        params = {k: v for k in ("pf", "curve") if (v := values.pop(k, None)) is not None}
        return {**values, "params": params}

    def add_issues(self, issues: list[Issue]) -> None:
        for issue in issues:
            field = self._params_field(issue.message) if issue.field == "params" else issue.field
            self.add_error(field if field in self.fields else None, issue.message)

    def _params_field(self, message: str) -> str:
        """The field a refusal of the mode's parameters is about: the one it names as not taken,
        else the chosen mode's own (the curve of a curve mode, else the power factor)."""
        for marker in ("(not ", "(got "):
            if marker in message:
                return "curve" if "curve" in message.partition(marker)[2] else "pf"
        return "curve" if self.cleaned_data.get("control_mode") in curves.CURVE_MODES else "pf"


class DefaultModeForm(forms.Form):
    """What the DER does while no set point is in force; the field of the chosen mode is used."""

    default_mode = forms.ChoiceField(label="Default mode", required=False)
    pf = forms.FloatField(required=False, label="Power factor (− = absorbing vars)")
    q_kvar = forms.FloatField(required=False, label="Q (kvar, + = injected)")
    curve = forms.CharField(
        required=False,
        label="Curve (x Q; …)",
        max_length=400,
        help_text="volt–var: V pu and Q as a fraction of the available var, e.g. 0.92 0.44; 0.98 0; "
        "1.02 0; 1.08 -0.44 (IEEE 1547 category B); watt–var: P as a fraction of the rating",
    )
    volt_watt = forms.CharField(
        required=False,
        label="Volt–watt curve (V P; …), beside any mode",
        max_length=400,
        help_text="V pu and P as a fraction of the rating, e.g. 1.06 1; 1.1 0.2 (IEEE 1547); empty: off",
    )

    def __init__(self, *args: Any, der: DER | DERGroup, **kwargs: Any) -> None:
        """For a DER, or for a group's program (its modes: those every member it reaches supports)."""
        params = der.mode_params if isinstance(der.mode_params, dict) else {}
        curve = params.get("curve")
        points = curve if isinstance(curve, list) else []
        initial = {
            "default_mode": der.default_mode,
            "pf": params.get("pf"),
            "q_kvar": params.get("q_kvar"),
            "curve": "; ".join(f"{x:g} {q:g}" for x, q in points),
            "volt_watt": "; ".join(f"{x:g} {p:g}" for x, p in params.get(curves.VOLT_WATT) or []),
        }
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        field = self.fields["default_mode"]
        assert isinstance(field, forms.ChoiceField)
        none = (
            "None (each member keeps its own)"
            if isinstance(der, DERGroup)
            else "None (the device's own settings)"
        )
        field.choices = [("", none)] + [(m, ieee1547.mode_label(m)) for m in der.supported_modes]

    def clean_curve(self) -> list[list[float]] | None:
        return _points(self.cleaned_data["curve"], "0.92 0.44")

    def clean_volt_watt(self) -> list[list[float]] | None:
        return _points(self.cleaned_data["volt_watt"], "1.06 1")

    def settings(self) -> tuple[str, dict[str, Any]]:
        """(mode, its settings and the volt–watt curve) as do_set_default_mode takes them."""
        mode = self.cleaned_data["default_mode"]
        field = _setting_field(mode)
        value = self.cleaned_data.get(field) if field else None
        settings = {} if value is None else {field: value}
        if self.cleaned_data.get("volt_watt"):
            settings[curves.VOLT_WATT] = self.cleaned_data["volt_watt"]
        return mode, settings

    def add_issues(self, issues: list[Issue]) -> None:
        field = _setting_field(self.cleaned_data.get("default_mode", ""))
        for issue in issues:
            name = field if issue.field == "mode_params" and field else issue.field
            if issue.field == "mode_params" and issue.message.startswith(curves.VOLT_WATT_WORDS):
                name = "volt_watt"
            self.add_error(name if name in self.fields else None, issue.message)


def _points(typed: str, example: str) -> list[list[float]] | None:
    """Points typed as "x y; x y; …" (commas also separate)."""
    text = typed.strip()
    if not text:
        return None
    points = []
    for i, part in enumerate(text.replace("\n", ";").split(";"), 1):
        numbers = part.replace(",", " ").split()
        try:
            x, q = (float(n) for n in numbers)
        except ValueError:
            raise forms.ValidationError(
                f"Point {i} ({part.strip()!r}) must be two numbers, such as {example}."
            ) from None
        points.append([x, q])
    return points


def _setting_field(mode: str) -> str:
    """The form field that holds a mode's one setting: its name in mode_params ("" for none)."""
    return next(iter(mode_settings.SETTINGS.get(mode, ())), "")
