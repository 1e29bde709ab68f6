"""Every state change of the DER registry. Each do_* owns the transaction, writes the audit record
and publishes its live event after commit. Views, API, CLI and tasks call these, nothing else."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.der_registry.adapters import build_context, der_values
from apps.der_registry.engine import csv_format, ieee1547
from apps.der_registry.engine.ieee1547 import DERRecord, Issue
from apps.der_registry.engine.lifecycle import Status, transition_problem
from apps.der_registry.models import (
    DER,
    CsvImport,
    DERGroup,
    LatestMonitoring,
    LifecycleEvent,
    MonitoringSample,
    SetPoint,
)
from apps.dms.models import Feeder
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.accounts.models import AuditRecord
from crest_web.events import publish_on_commit


class RegistryError(ValueError):
    """A request the registry refuses; `issues` says why, field by field."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))

    def by_field(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for issue in self.issues:
            out[issue.field].append(issue.message)
        return dict(out)


def refuse(field: str, message: str) -> RegistryError:
    return RegistryError([Issue(field, message)])


def _publish(der: DER, event: str) -> None:
    publish_on_commit("registry", event, {"id": der.pk, "name": der.name, "status": der.status})


def _check(rec: DERRecord, exclude_ids: tuple[int, ...] = ()) -> list[Issue]:
    issues = ieee1547.validate_der(rec, build_context([rec], exclude_ids))
    if ieee1547.errors(issues):
        raise RegistryError(ieee1547.errors(issues))
    return ieee1547.warnings(issues)


def _apply_compliance(der: DER, warnings: list[Issue]) -> None:
    der.compliance = DER.Compliance.WARNING if warnings else DER.Compliance.OK
    der.compliance_notes = "\n".join(w.message for w in warnings)


def _set_groups(der: DER, rec: DERRecord, extra_groups: list[str] | None) -> None:
    names = set(extra_groups or [])
    if rec.aggregator:
        names.add(rec.aggregator)
    der.groups.set(DERGroup.objects.filter(name__in=names))


def new_der(rec: DERRecord, warnings: list[Issue], feeder: Feeder) -> DER:
    der = DER(**der_values(rec, feeder), status=Status.PENDING)
    _apply_compliance(der, warnings)
    return der


@transaction.atomic
def do_enroll_der(
    actor: Actor, source: str, rec: DERRecord, groups: list[str] | None = None, replaces: DER | None = None
) -> DER:
    rec = ieee1547.complete_identity(rec)
    warnings = _check(rec)
    der = new_der(rec, warnings, Feeder.objects.get(name=rec.feeder))
    der.replaces = replaces
    der.save()
    _set_groups(der, rec, groups)
    LifecycleEvent.objects.create(
        der=der,
        from_status="",
        to_status=Status.PENDING,
        by=_user(actor),
        by_name=_name(actor),
        reason="enrolled",
    )
    audit.record(actor, source, "der.enroll", der, after=audit.snapshot(der))
    _publish(der, "der.enrolled")
    return der


@transaction.atomic
def do_update_der(
    actor: Actor, source: str, der_id: int, rec: DERRecord, groups: list[str] | None = None
) -> DER:
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status == Status.DECOMMISSIONED:
        raise refuse("status", "A decommissioned DER cannot be edited.")
    before = audit.snapshot(der)
    rec = ieee1547.complete_identity(rec)
    warnings = _check(rec, (der.pk,))
    for key, value in der_values(rec, Feeder.objects.get(name=rec.feeder)).items():
        setattr(der, key, value)
    if der.configuration() != _ratings_from_snapshot(before):
        # A changed configuration is a new proposal: both parties must agree to it again.
        der.cfg_operator_agreed = der.cfg_utility_agreed = False
        der.cfg_agreed_at = None
    _apply_compliance(der, warnings)
    der.save()
    _set_groups(der, rec, groups)
    after = audit.snapshot(der)
    audit.record(actor, source, "der.update", der, before=before, after=after)
    _publish(der, "der.updated")
    return der


def _ratings_from_snapshot(snap: dict[str, Any]) -> ieee1547.Ratings:
    return ieee1547.Ratings(**{k: snap[f"cfg_{k}"] for k in ieee1547.RATING_FIELDS})


@transaction.atomic
def do_agree_configuration(actor: Actor, source: str, der_id: int, party: str) -> DER:
    """Record that the DER operator or the utility agreed to the configured overrides."""
    if party not in ("operator", "utility"):
        raise refuse("party", "The agreeing party must be 'operator' or 'utility'.")
    der = DER.objects.select_for_update().get(pk=der_id)
    if all(v is None for v in vars(der.configuration()).values()):
        raise refuse("configuration", "This DER has no configuration overrides to agree to.")
    before = audit.snapshot(der, ["cfg_operator_agreed", "cfg_utility_agreed"])
    setattr(der, f"cfg_{party}_agreed", True)
    if der.cfg_operator_agreed and der.cfg_utility_agreed:
        der.cfg_agreed_at = timezone.now()
    der.save(update_fields=["cfg_operator_agreed", "cfg_utility_agreed", "cfg_agreed_at", "updated_at"])
    audit.record(
        actor,
        source,
        f"der.config_agreed_{party}",
        der,
        before=before,
        after=audit.snapshot(der, ["cfg_operator_agreed", "cfg_utility_agreed"]),
    )
    _publish(der, "der.updated")
    return der


@transaction.atomic
def do_transition_der(actor: Actor, source: str, der_id: int, target: str, reason: str = "") -> DER:
    der = DER.objects.select_for_update().get(pk=der_id)
    problem = transition_problem(der.status, target, reason)
    if problem:
        raise refuse("status", problem)
    previous = der.status
    der.status = target
    der.save(update_fields=["status", "updated_at"])
    LifecycleEvent.objects.create(
        der=der,
        from_status=previous,
        to_status=target,
        by=_user(actor),
        by_name=_name(actor),
        reason=reason[:300],
    )
    audit.record(
        actor,
        source,
        "der.lifecycle",
        der,
        before={"status": previous},
        after={"status": target},
        reason=reason,
    )
    _publish(der, "der.lifecycle")
    return der


@transaction.atomic
def do_replace_der(actor: Actor, source: str, old_id: int, rec: DERRecord, reason: str = "") -> DER:
    """Enroll a new device in place of an old one; the old one is decommissioned, history kept."""
    old = DER.objects.select_for_update().get(pk=old_id)
    if old.status == Status.DECOMMISSIONED:
        raise refuse("status", f"{old.name} is already decommissioned; enroll the new device.")
    if hasattr(old, "replaced_by"):
        raise refuse("status", f"{old.name} has already been replaced.")
    groups = list(old.groups.values_list("name", flat=True))
    do_transition_der(
        actor,
        source,
        old.pk,
        Status.DECOMMISSIONED,
        f"replaced by {rec.name}" + (f": {reason}" if reason else ""),
    )
    return do_enroll_der(actor, source, rec, groups=groups, replaces=old)


# How a value is named to an operator: field → (words, unit).
LABELS = {
    "p_kw": ("P", "kW"),
    "q_kvar": ("Q", "kvar"),
    "v_pu": ("The voltage", "pu"),
    "f_hz": ("The frequency", "Hz"),
    "p_limit_kw": ("The P limit", "kW"),
}


def _finite(name: str, value: Any, low: float, high: float) -> float | None:
    if value is None:
        return None
    words, unit = LABELS.get(name, (name, ""))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise refuse(name, f"{words} must be a number, not {value!r}.") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise refuse(
            name,
            f"{words} must be between {low:g} and {high:g} {unit} (got {value:g} {unit})."
            if math.isfinite(number)
            else f"{words} must be a finite number.",
        )
    return number


MONITORING_RANGES = {"p_kw": (-1e6, 1e6), "q_kvar": (-1e6, 1e6), "v_pu": (0.0, 2.0), "f_hz": (40.0, 70.0)}


@transaction.atomic
def do_record_monitoring(actor: Actor, source: str, der_id: int, values: dict[str, Any]) -> MonitoringSample:
    """Store one monitoring sample; the latest-value row moves only forward in time."""
    der = DER.objects.get(pk=der_id)
    t = values.get("t") or timezone.now()
    if t > timezone.now() + dt.timedelta(minutes=5):
        raise refuse("t", "The sample time is more than 5 minutes in the future; check the device clock.")
    clean = {k: _finite(k, values.get(k), *bounds) for k, bounds in MONITORING_RANGES.items()}
    text = {
        k: values[k]
        for k in ("operating_state", "connection_status", "alarm_status", "quality")
        if values.get(k) is not None
    }
    sample = MonitoringSample(der=der, t=t, **clean, **text)
    sample.full_clean(exclude=["der"])
    sample.save()
    latest = LatestMonitoring.objects.select_for_update().filter(der=der).first()
    if latest is None or latest.t <= t:
        LatestMonitoring.objects.update_or_create(der=der, defaults={"t": t, **clean, **text})
    publish_on_commit("registry", "der.monitoring", {"id": der.pk, "t": t.isoformat(), **clean})
    return sample


@transaction.atomic
def do_issue_setpoint(
    actor: Actor,
    source: str,
    der_id: int,
    *,
    control_mode: str,
    p_limit_kw: float | None = None,
    q_kvar: float | None = None,
    params: dict[str, Any] | None = None,
    note: str = "",
    setpoint_source: str = "manual",
) -> SetPoint:
    """Record a set point for an active DER within its effective ratings (sending is the
    protocol gateway's job; this is the management history it works from)."""
    if p_limit_kw is None and q_kvar is None and not params:
        raise refuse("q_kvar", "A set point needs a P limit, a Q value or mode parameters.")
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status != Status.ACTIVE:
        raise refuse("der", f"{der.name} is {der.status}; only active DERs take set points.")
    if control_mode not in der.supported_modes:
        label = {m.value: t for m, t in ieee1547.CONTROL_MODE_LABELS.items()}.get(control_mode, control_mode)
        raise refuse("control_mode", f"{der.name} does not support the {label} mode.")
    eff = {k: v.value for k, v in der.effective().items()}
    p = _finite("p_limit_kw", p_limit_kw, 0.0, float(eff["active_power_kw"] or 0.0))
    q = _finite(
        "q_kvar",
        q_kvar,
        -float(eff["reactive_absorbed_kvar"] or 0.0),
        float(eff["reactive_injected_kvar"] or 0.0),
    )
    s = float(eff["apparent_power_kva"] or 0.0)
    if p is not None and q is not None and math.hypot(p, q) > s + 1e-6:
        raise refuse("q_kvar", f"P {p:g} kW and Q {q:g} kvar exceed the {s:g} kVA rating.")
    der.setpoints.filter(status__in=["issued", "acknowledged"]).update(status="superseded")
    setpoint = SetPoint.objects.create(
        der=der,
        issued_by=_user(actor),
        source=setpoint_source,
        control_mode=control_mode,
        p_limit_kw=p,
        q_kvar=q,
        params=params or {},
        note=note[:200],
    )
    if der.control_mode != control_mode:
        der.control_mode = control_mode
        der.save(update_fields=["control_mode", "updated_at"])
    audit.record(
        actor,
        source,
        "der.setpoint",
        der,
        after={"control_mode": control_mode, "p_limit_kw": p, "q_kvar": q, "note": note},
    )
    _publish(der, "der.setpoint")
    return setpoint


@transaction.atomic
def do_create_group(actor: Actor, source: str, name: str, kind: str, description: str = "") -> DERGroup:
    if kind not in DERGroup.Kind.values:
        raise refuse("kind", "A group is an aggregator or a microgrid.")
    if DERGroup.objects.filter(name=name).exists():
        raise refuse("name", f"A group named {name!r} already exists.")
    group = DERGroup.objects.create(name=name, kind=kind, description=description)
    audit.record(actor, source, "dergroup.create", group, after=audit.snapshot(group))
    return group


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def _name(actor: Actor) -> str:
    user = _user(actor)
    return user.get_username() if user is not None else "system"


def _validated_csv(content: str) -> csv_format.ParsedFile:
    parsed = csv_format.parse_csv(content)
    if parsed.problems:
        return parsed
    records = [r.record for r in parsed.rows if r.record is not None]
    return csv_format.validate_file(parsed, build_context(records))


def _report(parsed: csv_format.ParsedFile) -> dict[str, Any]:
    rows = [
        {
            "line": row.line,
            "name": row.record.name if row.record else row.name,
            "errors": [{"field": i.field, "message": i.message} for i in row.issues if i.severity == "error"],
            "warnings": [
                {"field": i.field, "message": i.message} for i in row.issues if i.severity == "warning"
            ],
        }
        for row in parsed.rows
        if row.issues
    ]
    preview = [
        {
            "line": row.line,
            "name": row.record.name,
            "serial_number": row.record.serial_number,
            "feeder": row.record.feeder,
            "bus": row.record.bus,
            "phases": ".".join(str(p) for p in row.record.phases),
            "comm_path": row.record.comm_path,
            "active_power_kw": row.record.nameplate.active_power_kw,
        }
        for row in parsed.rows[:50]
        if row.record is not None
    ]
    return {
        "preview": preview,
        "problems": parsed.problems,
        "rows": rows,
        "total": len(parsed.rows),
        "bad": sum(1 for r in rows if r["errors"]),
    }


@transaction.atomic
def do_preview_csv_import(actor: Actor, source: str, filename: str, content: str) -> CsvImport:
    """Parse and validate a CSV upload; stores the upload for confirmation, writes no DER."""
    parsed = _validated_csv(content)
    report = _report(parsed)
    bad = report["bad"] + (1 if parsed.problems else 0)
    imp = CsvImport.objects.create(
        created_by=_user(actor),
        filename=filename[:200],
        content=content,
        row_count=len(parsed.rows),
        error_count=bad,
        warning_count=sum(1 for r in report["rows"] if r["warnings"]),
        report=report,
        status="previewed" if not bad else "rejected",
    )
    audit.record(
        actor,
        source,
        "der.import_preview",
        imp,
        after={"filename": filename, "rows": imp.row_count, "bad_rows": bad},
    )
    return imp


@transaction.atomic
def do_confirm_csv_import(actor: Actor, source: str, import_id: int) -> list[int]:
    """Create every DER of a previewed, error-free upload, or none of them."""
    imp = CsvImport.objects.select_for_update().get(pk=import_id)
    if imp.status != "previewed":
        raise refuse("import", f"This upload is {imp.status}; upload the file again.")
    parsed = _validated_csv(imp.content)  # the registry may have changed since the preview
    if not parsed.ok:
        imp.report, imp.status = _report(parsed), "rejected"
        imp.save(update_fields=["report", "status"])
        raise refuse(
            "import", "The file no longer validates against the registry; see the refreshed preview."
        )
    rows = [
        (r.record, [i for i in r.issues if i.severity == "warning"])
        for r in parsed.rows
        if r.record is not None
    ]
    feeders = {f.name: f for f in Feeder.objects.filter(name__in={rec.feeder for rec, _ in rows})}
    ders = DER.objects.bulk_create([new_der(rec, w, feeders[rec.feeder]) for rec, w in rows], batch_size=2000)
    _bulk_groups(ders, [rec for rec, _ in rows])
    who, name = _user(actor), _name(actor)
    LifecycleEvent.objects.bulk_create(
        [
            LifecycleEvent(
                der=d, to_status=Status.PENDING, by=who, by_name=name, reason=f"CSV import {imp.filename}"
            )
            for d in ders
        ],
        batch_size=5000,
    )
    AuditRecord.objects.bulk_create(
        [
            AuditRecord(
                actor=who,
                actor_name=name,
                source=source,
                action="der.enroll",
                object_type="der_registry.der",
                object_id=str(d.pk),
                object_repr=d.name,
                after=audit.snapshot(d),
                reason=f"CSV import #{imp.pk}",
            )
            for d in ders
        ],
        batch_size=2000,
    )
    imp.status, imp.committed_at = "committed", timezone.now()
    imp.save(update_fields=["status", "committed_at"])
    publish_on_commit("registry", "der.imported", {"count": len(ders), "import": imp.pk})
    return [d.pk for d in ders]


def _bulk_groups(ders: list[DER], records: list[DERRecord]) -> None:
    groups = {
        g.name: g for g in DERGroup.objects.filter(name__in={r.aggregator for r in records if r.aggregator})
    }
    through = DER.groups.through
    through.objects.bulk_create(
        [
            through(der_id=d.pk, dergroup_id=groups[r.aggregator].pk)
            for d, r in zip(ders, records, strict=True)
            if r.aggregator
        ],
        batch_size=5000,
    )
