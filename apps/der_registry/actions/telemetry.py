"""Monitoring values in, set points out, and what devices say about the set points."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.der_registry.actions._common import _publish, _user, refuse
from apps.der_registry.engine import device_clock, ieee1547, setpoint_params
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.engine.sep2.mirror import READINGS_KEPT_S
from apps.der_registry.models import (
    DER,
    LatestMonitoring,
    MonitoringSample,
    Sep2MirrorReading,
    SetPoint,
)
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit

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
    DER.objects.only("pk").get(pk=der_id)  # an unknown DER is refused here, not at commit
    return _store_monitoring(der_id, values)


def _store_monitoring(der_id: int, values: dict[str, Any], *, keep_missing: bool = False) -> MonitoringSample:
    """do_record_monitoring's work, for actions that already hold a transaction (no savepoint) and
    know the DER exists. With `keep_missing`, a quantity the sample does not report keeps its latest
    value instead of being blanked (a 2030.5 DERStatus reports state only, a metering post P, Q, V and
    f only). Two statements in the usual case (the sample, the latest value): a 2030.5 poll stores
    twice, and every round trip is paid for by a thousand devices (issue 16, item 11)."""
    now = timezone.now()
    t = values.get("t") or now
    if t > now + dt.timedelta(minutes=5):
        raise refuse("t", "The sample time is more than 5 minutes in the future; check the device clock.")
    clean = {k: _finite(k, values.get(k), *bounds) for k, bounds in MONITORING_RANGES.items()}
    text = {
        k: values[k]
        for k in ("operating_state", "connection_status", "alarm_status", "quality")
        if values.get(k) is not None
    }
    sample = MonitoringSample(der_id=der_id, t=t, **clean, **text)
    sample.full_clean(exclude=["der"])
    sample.save()
    # Judged on every arrival: a clock gone wrong sends samples older than the newest value, which
    # then stays, and the operator needs to know why nothing newer comes.
    clock = {"clock_offset_s": device_clock.clock_offset_s(t, now)}
    fresh = {k: v for k, v in clean.items() if v is not None} if keep_missing else clean
    # One conditional UPDATE: PostgreSQL re-checks `t <= sample time` on the locked row, so of two
    # samples arriving together the newer one is left standing, whichever commits first.
    latest = LatestMonitoring.objects.filter(der_id=der_id)
    if not latest.filter(t__lte=t).update(t=t, **fresh, **text, **clock) and not latest.update(**clock):
        LatestMonitoring.objects.update_or_create(der_id=der_id, defaults={"t": t, **clean, **text, **clock})
    publish_on_commit("registry", "der.monitoring", {"id": der_id, "t": t.isoformat(), **clean})
    return sample


def _sent_params(der: DER, mode: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as the DER is sent them (and the history shows): a curve mode's curve filled
    in for a 2030.5 DER; a DNP3 DER follows its own curve, so none is taken for one."""
    if der.comm_path == "dnp3_direct":
        if "curve" in params:
            raise refuse(
                "params",
                f"{der.name} is reached over DNP3, which carries no curves: it follows its own "
                f"{ieee1547.mode_label(mode).lower()} curve. Issue the set point without one.",
            )
        return params
    return setpoint_params.filled(mode, params, der.default_mode, der.mode_params)


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
    dispatch_run_id: int | None = None,
) -> SetPoint:
    """Record a set point for an active DER within its effective ratings (sending is the
    protocol gateway's job; this is the management history it works from)."""
    if p_limit_kw is None and q_kvar is None and not params:
        raise refuse("q_kvar", "A set point needs a P limit, a Q value or mode parameters.")
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status != Status.ACTIVE:
        raise refuse("der", f"{der.name} is {der.status}; only active DERs take set points.")
    if control_mode not in der.supported_modes:
        label = ieee1547.mode_label(control_mode)
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
    room = setpoint_params.ReactiveRoom.of(eff, p)
    if problem := setpoint_params.problem(control_mode, {} if params is None else params, room):
        raise refuse("params", problem)
    params = _sent_params(der, control_mode, params or {})
    der.setpoints.filter(status__in=["issued", "acknowledged"]).update(status="superseded")
    setpoint = SetPoint.objects.create(
        der=der,
        issued_by=_user(actor),
        source=setpoint_source,
        control_mode=control_mode,
        p_limit_kw=p,
        q_kvar=q,
        params=params,
        note=note[:200],
        dispatch_run_id=dispatch_run_id,
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
def do_record_setpoint_delivery(
    actor: Actor, source: str, setpoint_id: int, ok: bool, reason: str = ""
) -> SetPoint | None:
    """The protocol gateway's outcome for a registry set point: acknowledged by the device, or
    failed with the device's reason. Only an `issued` set point moves (a superseded one stays)."""
    setpoint = SetPoint.objects.select_for_update().select_related("der").filter(pk=setpoint_id).first()
    if setpoint is None or setpoint.status != "issued":
        return setpoint
    setpoint.status = "acknowledged" if ok else "failed"
    if reason:
        setpoint.note = f"{setpoint.note} · {reason}".strip(" ·")[:200]
    setpoint.save(update_fields=["status", "note"])
    audit.record(
        actor,
        source,
        f"der.setpoint.{setpoint.status}",
        setpoint,
        after={"status": setpoint.status},
        reason=reason[:200],
    )
    publish_on_commit(
        "registry",
        "der.setpoint",
        {
            "id": setpoint.der_id,
            "name": setpoint.der.name,
            "setpoint": setpoint.pk,
            "status": setpoint.status,
        },
    )
    return setpoint


PRUNE_BATCH = 10_000  # rows per DELETE: each is short, so devices posting meanwhile are not held up


def _delete_in_batches(rows: QuerySet[Any]) -> int:
    deleted = 0
    while ids := list(rows.order_by().values_list("pk", flat=True)[:PRUNE_BATCH]):  # no sort: any old rows
        deleted += rows.model.objects.filter(pk__in=ids).delete()[0]
    return deleted


def do_prune_history(actor: Actor, source: str, keep_days: int) -> dict[str, int]:
    """Delete monitoring samples older than `keep_days` (each DER's latest value stays, however old)
    and mirrored 2030.5 readings older than the day the Metering function set serves — also those of
    a device that stopped posting, which its own posts would have pruned. Each batch is its own
    transaction; the audit log notes what went."""
    now = timezone.now()
    gone = {
        "samples": _delete_in_batches(
            MonitoringSample.objects.filter(t__lt=now - dt.timedelta(days=keep_days))
        ),
        "mirror_readings": _delete_in_batches(
            Sep2MirrorReading.objects.filter(t_s__lt=int(now.timestamp()) - READINGS_KEPT_S)
        ),
    }
    if any(gone.values()):
        audit.record(actor, source, "registry.prune_history", after={**gone, "keep_days": keep_days})
    return gone
