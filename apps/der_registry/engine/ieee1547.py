"""The IEEE 1547-2018 (clause 10) information model of a DER, and its validation.

Ratings are kW / kVA / kvar at the edges (1547 states them in W / VA / var; we scale by 1000).
Every check returns plain-words issues per field; nothing here raises on bad data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi, sfdi_matches_lfdi, sfdi_problem
from apps.standards import dnp3_profile

# IEEE 1547-2018 Table 7: reactive capability as a fraction of the nameplate apparent rating.
REACTIVE_FRACTION = {"A": (0.44, 0.25), "B": (0.44, 0.44)}  # (injection, absorption)


class ControlMode(StrEnum):
    CONSTANT_PF = "constant_pf"
    VOLT_VAR = "volt_var"
    WATT_VAR = "watt_var"
    CONSTANT_VAR = "constant_var"
    ACTIVE_REACTIVE = "active_reactive"  # the CReST real-power–reactive-power mode


CONTROL_MODE_LABELS = {
    ControlMode.CONSTANT_PF: "Constant power factor",
    ControlMode.VOLT_VAR: "Volt–var",
    ControlMode.WATT_VAR: "Watt–var",
    ControlMode.CONSTANT_VAR: "Constant var",
    ControlMode.ACTIVE_REACTIVE: "Active–reactive power (CReST)",
}
_LABEL_OF = {mode.value: text for mode, text in CONTROL_MODE_LABELS.items()}


def mode_label(mode: str) -> str:
    """The words an operator reads for a control mode ("Volt–var"); an unknown mode as it was given."""
    return _LABEL_OF.get(mode, mode)


# Rating fields a configuration may override, with the words an operator reads.
RATING_FIELDS: dict[str, str] = {
    "active_power_kw": "active power rating at unity power factor",
    "apparent_power_kva": "apparent power maximum",
    "reactive_injected_kvar": "reactive power injected maximum",
    "reactive_absorbed_kvar": "reactive power absorbed maximum",
    "active_power_charge_kw": "active power charge maximum",
    "v_nominal_v": "AC voltage nominal",
    "v_min_v": "AC voltage minimum",
    "v_max_v": "AC voltage maximum",
}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    field: str
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class Ratings:
    """The rating part of a nameplate or of a configuration (None = not stated / no override)."""

    active_power_kw: float | None = None
    apparent_power_kva: float | None = None
    reactive_injected_kvar: float | None = None
    reactive_absorbed_kvar: float | None = None
    active_power_charge_kw: float | None = None
    v_nominal_v: float | None = None
    v_min_v: float | None = None
    v_max_v: float | None = None


@dataclass(frozen=True)
class EffectiveValue:
    value: float | None
    source: str  # "configuration" or "nameplate"


def effective_ratings(
    nameplate: Ratings, configuration: Ratings, operator_agreed: bool, utility_agreed: bool
) -> dict[str, EffectiveValue]:
    """A configuration value counts only when both the DER operator and the utility agreed to it."""
    agreed = operator_agreed and utility_agreed
    out: dict[str, EffectiveValue] = {}
    for name in RATING_FIELDS:
        override = getattr(configuration, name)
        if agreed and override is not None:
            out[name] = EffectiveValue(override, "configuration")
        else:
            out[name] = EffectiveValue(getattr(nameplate, name), "nameplate")
    return out


@dataclass(frozen=True)
class DERRecord:
    """Everything the registry knows about one DER, as plain values."""

    name: str
    serial_number: str
    nameplate: Ratings
    configuration: Ratings = field(default_factory=Ratings)
    normal_category: str = "B"
    abnormal_category: str = "II"
    supported_modes: tuple[str, ...] = (ControlMode.ACTIVE_REACTIVE,)
    control_mode: str = ControlMode.ACTIVE_REACTIVE
    feeder: str = ""
    bus: str = ""
    phases: tuple[int, ...] = ()
    ownership: str = "customer"
    comm_path: str = "sep2_direct"
    dnp3_host: str = ""
    dnp3_port: int | None = None
    dnp3_outstation_address: int | None = None
    dnp3_master_address: int | None = None
    lfdi: str = ""
    sfdi: int | None = None
    registration_pin: str = ""
    aggregator: str = ""
    der_type: str = "pv"
    manufacturer: str = ""
    model: str = ""
    firmware_version: str = ""
    dnp3_tls: bool = False
    expected_update_s: int = 60
    dnp3_point_map: str = dnp3_profile.DEFAULT_POINT_MAP
    dnp3_ao_variation: str = dnp3_profile.DEFAULT_AO_VARIATION


@dataclass
class RegistryContext:
    """What validation needs to know about the rest of the registry (built by the Django adapter)."""

    bus_phases: Mapping[tuple[str, str], frozenset[int]] = field(default_factory=dict)
    known_feeders: frozenset[str] = frozenset()
    taken_serials: frozenset[str] = frozenset()
    taken_names: frozenset[str] = frozenset()
    taken_dnp3: frozenset[tuple[str, int, int]] = frozenset()  # (host, port, outstation)
    taken_lfdis: frozenset[str] = frozenset()
    known_aggregators: frozenset[str] = frozenset()


DER_TYPES = ("pv", "storage", "pv_storage", "wind", "other")
OWNERSHIPS = ("utility", "customer", "aggregator")
COMM_PATHS = ("dnp3_direct", "sep2_direct", "via_aggregator")
NORMAL_CATEGORIES = ("A", "B")
ABNORMAL_CATEGORIES = ("I", "II", "III")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _positive(ratings: Ratings, name: str, required: bool) -> Iterable[Issue]:
    value = getattr(ratings, name)
    label = RATING_FIELDS[name]
    if value is None:
        if required:
            yield Issue(name, f"The {label} is required.")
    elif value < 0 or (value == 0 and name != "active_power_charge_kw"):
        yield Issue(name, f"The {label} must be greater than zero (got {value:g}).")


def validate_ratings(r: Ratings, required: bool = True) -> list[Issue]:
    """Consistency of one set of ratings: apparent ≥ active, V min < nominal < max, Q ≤ S."""
    issues: list[Issue] = []
    for name in RATING_FIELDS:
        issues += _positive(r, name, required and name != "active_power_charge_kw")
    p, s = r.active_power_kw, r.apparent_power_kva
    if p is not None and s is not None and p > 0 and s < p:
        issues.append(
            Issue(
                "apparent_power_kva",
                f"The apparent power maximum ({s:g} kVA) cannot be below the active power rating ({p:g} kW).",
            )
        )
    for q_name in ("reactive_injected_kvar", "reactive_absorbed_kvar"):
        q = getattr(r, q_name)
        if q is not None and s is not None and s > 0 and q > s:
            issues.append(
                Issue(
                    q_name,
                    f"The {RATING_FIELDS[q_name]} ({q:g} kvar) cannot exceed "
                    f"the apparent power maximum ({s:g} kVA).",
                )
            )
    vmin, vnom, vmax = r.v_min_v, r.v_nominal_v, r.v_max_v
    if vmin is not None and vnom is not None and vmin >= vnom:
        issues.append(
            Issue("v_min_v", f"The AC voltage minimum ({vmin:g} V) must be below the nominal ({vnom:g} V).")
        )
    if vmax is not None and vnom is not None and vmax <= vnom:
        issues.append(
            Issue("v_max_v", f"The AC voltage maximum ({vmax:g} V) must be above the nominal ({vnom:g} V).")
        )
    return issues


def reactive_capability_warnings(r: Ratings, category: str) -> list[Issue]:
    """IEEE 1547-2018 Table 7 minimum reactive capability; a compliance warning, not an error."""
    fractions = REACTIVE_FRACTION.get(category)
    s = r.apparent_power_kva
    if fractions is None or s is None or s <= 0:
        return []
    issues = []
    for q_name, fraction, verb in (
        ("reactive_injected_kvar", fractions[0], "inject"),
        ("reactive_absorbed_kvar", fractions[1], "absorb"),
    ):
        q = getattr(r, q_name)
        if q is not None and q < fraction * s - 1e-9:
            issues.append(
                Issue(
                    q_name,
                    f"Category {category} requires the ability to {verb} at "
                    f"least {fraction:.0%} of the apparent rating ({fraction * s:.2f} "
                    f"kvar); this DER states {q:g} kvar.",
                    Severity.WARNING,
                )
            )
    return issues


def _validate_identity(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    issues = []
    if not _NAME.match(rec.name):
        issues.append(
            Issue(
                "name",
                "The name must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            )
        )
    elif rec.name in ctx.taken_names:
        issues.append(Issue("name", f"The name {rec.name!r} is already used by another DER."))
    if rec.der_type not in DER_TYPES:
        issues.append(Issue("der_type", f"The DER type must be one of {', '.join(DER_TYPES)}."))
    if not 1 <= rec.expected_update_s <= 86400:
        issues.append(
            Issue("expected_update_s", "The expected telemetry update period must be between 1 s and 1 day.")
        )
    if not rec.serial_number.strip():
        issues.append(Issue("serial_number", "The serial number is required."))
    elif rec.serial_number in ctx.taken_serials:
        issues.append(Issue("serial_number", f"Serial number {rec.serial_number!r} is already enrolled."))
    if rec.normal_category not in NORMAL_CATEGORIES:
        issues.append(Issue("normal_category", "The normal performance category must be A or B."))
    if rec.abnormal_category not in ABNORMAL_CATEGORIES:
        issues.append(Issue("abnormal_category", "The abnormal performance category must be I, II or III."))
    known_modes = {m.value for m in ControlMode}
    bad = [m for m in rec.supported_modes if m not in known_modes]
    if bad:
        issues.append(Issue("supported_modes", f"Unknown control mode(s): {', '.join(bad)}."))
    if rec.control_mode not in rec.supported_modes:
        issues.append(
            Issue("control_mode", "The active control mode must be one of the modes the DER supports.")
        )
    return issues


def _validate_location(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    if not rec.feeder:
        return [Issue("feeder", "The feeder is required.")]
    if rec.feeder not in ctx.known_feeders:
        return [Issue("feeder", f"There is no feeder named {rec.feeder!r}.")]
    at_bus = ctx.bus_phases.get((rec.feeder, rec.bus.lower()))
    if at_bus is None:
        return [Issue("bus", f"Feeder {rec.feeder} has no bus {rec.bus!r}.")]
    if not rec.phases:
        return [Issue("phases", "At least one phase (1, 2 or 3) is required.")]
    missing = sorted(set(rec.phases) - at_bus)
    if missing:
        have = ", ".join(str(p) for p in sorted(at_bus))
        return [
            Issue(
                "phases",
                f"Bus {rec.bus} has phase(s) {have} only; phase(s) "
                f"{', '.join(str(p) for p in missing)} do not exist there.",
            )
        ]
    return []


def _validate_dnp3(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    issues = []
    if not rec.dnp3_host:
        issues.append(Issue("dnp3_host", "A DNP3 DER needs the host of its outstation."))
    if rec.dnp3_port is None or not 1 <= rec.dnp3_port <= 65535:
        issues.append(Issue("dnp3_port", "The DNP3 port must be between 1 and 65535."))
    for name in ("dnp3_outstation_address", "dnp3_master_address"):
        value = getattr(rec, name)
        # DNP3 link addresses 0xFFF0–0xFFFF are reserved for broadcast and self-address.
        if value is None or not 0 <= value <= 65519:
            issues.append(Issue(name, "DNP3 addresses must be whole numbers from 0 to 65519."))
    if rec.dnp3_outstation_address is not None and rec.dnp3_outstation_address == rec.dnp3_master_address:
        issues.append(Issue("dnp3_outstation_address", "The outstation and master addresses must differ."))
    for name, problem in (
        ("dnp3_point_map", dnp3_profile.point_map_problem(rec.dnp3_point_map)),
        ("dnp3_ao_variation", dnp3_profile.variation_problem(rec.dnp3_point_map, rec.dnp3_ao_variation)),
    ):
        if problem:
            issues.append(Issue(name, problem))
    key = (rec.dnp3_host, rec.dnp3_port or 0, rec.dnp3_outstation_address or 0)
    if not issues and key in ctx.taken_dnp3:
        issues.append(
            Issue(
                "dnp3_outstation_address",
                f"Outstation address "
                f"{rec.dnp3_outstation_address} is already used on channel "
                f"{rec.dnp3_host}:{rec.dnp3_port}.",
            )
        )
    return issues


def _validate_sep2(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    issues = []
    lfdi = rec.lfdi.strip()
    if not re.fullmatch(r"[0-9A-Fa-f]{40}", lfdi):
        issues.append(
            Issue(
                "lfdi",
                "The LFDI must be exactly 40 hexadecimal digits (the first "
                "160 bits of the certificate's SHA-256 fingerprint).",
            )
        )
    elif lfdi.upper() in ctx.taken_lfdis:
        issues.append(Issue("lfdi", "This LFDI already belongs to another enrolled DER."))
    if rec.sfdi is None:
        issues.append(Issue("sfdi", "The SFDI is required for an IEEE 2030.5 DER."))
    else:
        problem = sfdi_problem(rec.sfdi)
        if problem:
            issues.append(Issue("sfdi", problem))
        elif not issues and not sfdi_matches_lfdi(rec.sfdi, lfdi):
            issues.append(
                Issue(
                    "sfdi",
                    "The SFDI does not match the LFDI (it must be the LFDI's "
                    "first 36 bits in decimal followed by the check digit).",
                )
            )
    if rec.registration_pin and not re.fullmatch(r"\d{6}", rec.registration_pin):
        issues.append(Issue("registration_pin", "The registration PIN must be 6 digits."))
    return issues


def _validate_path(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    issues = []
    if rec.ownership not in OWNERSHIPS:
        issues.append(Issue("ownership", f"Ownership must be one of {', '.join(OWNERSHIPS)}."))
    if rec.comm_path not in COMM_PATHS:
        return [*issues, Issue("comm_path", f"The path must be one of {', '.join(COMM_PATHS)}.")]
    if rec.comm_path == "dnp3_direct":
        issues += _validate_dnp3(rec, ctx)
    elif rec.comm_path == "sep2_direct":
        issues += _validate_sep2(rec, ctx)
    elif not rec.aggregator:
        issues.append(Issue("aggregator", "A DER reached via an aggregator must name the aggregator group."))
    elif rec.aggregator not in ctx.known_aggregators:
        issues.append(Issue("aggregator", f"There is no aggregator group {rec.aggregator!r}."))
    return issues


def complete_identity(rec: DERRecord) -> DERRecord:
    """Upper-case the LFDI and derive a missing SFDI from it (2030.5 §6.3.4): one less thing to
    type, and a typed SFDI is still checked against the LFDI."""
    lfdi = rec.lfdi.strip().upper()
    sfdi = rec.sfdi
    if sfdi is None and re.fullmatch(r"[0-9A-F]{40}", lfdi):
        sfdi = sfdi_from_lfdi(lfdi)
    return replace(rec, lfdi=lfdi, sfdi=sfdi)


def validate_der(rec: DERRecord, ctx: RegistryContext) -> list[Issue]:
    """Every error and compliance warning for one DER, each naming its field in plain words."""
    issues = _validate_identity(rec, ctx)
    issues += validate_ratings(rec.nameplate)
    issues += _configuration_issues(rec)
    issues += _validate_location(rec, ctx)
    issues += _validate_path(rec, ctx)
    issues += reactive_capability_warnings(rec.nameplate, rec.normal_category)
    return issues


def _configuration_issues(rec: DERRecord) -> list[Issue]:
    """Problems the overrides create against the nameplate, shown on an overridden field."""
    overridden = [k for k in RATING_FIELDS if getattr(rec.configuration, k) is not None]
    if not overridden:
        return []
    already = {(i.field, i.message) for i in validate_ratings(rec.nameplate)}
    out = []
    for issue in validate_ratings(_merged(rec), required=False):
        if (issue.field, issue.message) in already:
            continue
        target = issue.field if issue.field in overridden else overridden[0]
        out.append(Issue(f"cfg_{target}", "With the configured overrides: " + issue.message, issue.severity))
    return out


def _merged(rec: DERRecord) -> Ratings:
    """Nameplate with configuration overrides applied, for checking the configuration's consistency."""
    values = {f.name: getattr(rec.configuration, f.name) for f in fields(Ratings)}
    base = {f.name: getattr(rec.nameplate, f.name) for f in fields(Ratings)}
    return Ratings(**{k: (v if v is not None else base[k]) for k, v in values.items()})


def errors(issues: Iterable[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity is Severity.ERROR]


def warnings(issues: Iterable[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity is Severity.WARNING]
