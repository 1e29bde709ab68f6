"""What IEEE 2030.5 devices change in the registry: registration, DER resources, responses, logs and
subscriptions."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.der_registry.actions._common import RegistryError, _publish, refuse
from apps.der_registry.actions.enrollment import do_update_der
from apps.der_registry.actions.sep2_metering import store_keeping_latest
from apps.der_registry.adapters import record_from_der
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import (
    DER,
    DERGroup,
    Sep2EndDevice,
    Sep2LogEvent,
    Sep2Response,
    Sep2Subscription,
    SetPoint,
)
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor

# --- IEEE 2030.5 server -------------------------------------------------------------------------

SEP2_KIND_FIELDS = {"dercap": "capability", "derg": "settings", "ders": "status", "dera": "availability"}
# What a device's DERCapability / DERSettings say about the registry's ratings (W/var/VA → k).
SEP2_NAMEPLATE = {
    "rtgW": "active_power_kw",
    "rtgVA": "apparent_power_kva",
    "rtgVar": "reactive_injected_kvar",
    "rtgVarNeg": "reactive_absorbed_kvar",
    "rtgMaxChargeRateW": "active_power_charge_kw",
}
SEP2_SETTINGS = {
    "setMaxW": "active_power_kw",
    "setMaxVA": "apparent_power_kva",
    "setMaxVar": "reactive_injected_kvar",
    "setMaxVarNeg": "reactive_absorbed_kvar",
    "setMaxChargeRateW": "active_power_charge_kw",
    "setVRef": "v_nominal_v",
}
# DERStatus.operationalModeStatus → the registry's operating state.
SEP2_OPERATING = {0: "unknown", 1: "off", 2: "on", 3: "standby"}
SEP2_RESPONSE_SETPOINT = {1: "acknowledged", 2: "acknowledged", 3: "acknowledged", 7: "superseded"}


@transaction.atomic
def do_register_sep2_end_device(
    actor: Actor, source: str, der_id: int, aggregator_id: int | None
) -> Sep2EndDevice:
    """A device (or its aggregator) registered with the 2030.5 server; registering again is harmless."""
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status == Status.DECOMMISSIONED:
        raise refuse("der", f"{der.name} is decommissioned and cannot register.")
    edev, made = Sep2EndDevice.objects.get_or_create(der=der, defaults={"aggregator_id": aggregator_id})
    if made:
        audit.record(actor, source, "der.sep2_register", der, after={"aggregator": aggregator_id})
        _publish(der, "der.sep2_registered")
    return edev


def _ratings_from_sep2(values: dict[str, Any], mapping: dict[str, str]) -> dict[str, float]:
    return {
        mapping[k]: float(v) / (1.0 if mapping[k] == "v_nominal_v" else 1000.0)
        for k, v in values.items()
        if k in mapping
    }


def _apply_sep2_ratings(actor: Actor, source: str, der: DER, kind: str, values: dict[str, Any]) -> None:
    """A device's DERCapability updates the nameplate, its DERSettings the configuration
    (which then needs both parties' agreement again, as any configuration change)."""
    mapping = SEP2_NAMEPLATE if kind == "dercap" else SEP2_SETTINGS
    changes = _ratings_from_sep2(values, mapping)
    rec = record_from_der(der)
    current = rec.nameplate if kind == "dercap" else rec.configuration
    if all(
        getattr(current, k) is not None and math.isclose(getattr(current, k), v, rel_tol=1e-3)
        for k, v in changes.items()
    ):
        return
    ratings = replace(current, **changes)
    rec = replace(rec, nameplate=ratings) if kind == "dercap" else replace(rec, configuration=ratings)
    do_update_der(actor, source, der.pk, rec, groups=list(der.groups.values_list("name", flat=True)))


REPORT_NAMES = {"dercap": "DERCapability", "derg": "DERSettings"}


def _apply_or_alarm(actor: Actor, source: str, der: DER, kind: str, values: dict[str, Any]) -> None:
    """Carry a DERCapability / DERSettings into the registry; one the registry cannot take (it
    contradicts the enrolled record) leaves the record as it was and raises an alarm naming the DER
    and the conflict: the device's report is kept either way (the caller stores it). A later report
    of the same kind that applies clears that alarm."""
    where = {"kind": "der_report", "source_type": "der", "source_id": f"{der.pk}:{kind}"}
    try:
        with transaction.atomic():
            _apply_sep2_ratings(actor, source, der, kind, values)
    except RegistryError as exc:
        do_raise_alarm(
            actor,
            source,
            source_label=f"DER {der.name}",
            message=(
                f"{der.name} reported a {REPORT_NAMES[kind]} the registry cannot take, so its record is "
                f"unchanged: {exc} Check the device's settings or update its registry record."
            ),
            **where,
        )
    else:
        do_clear_alarm(actor, source, note=f"a later {REPORT_NAMES[kind]} was applied", **where)


def _monitoring_from_status(values: dict[str, Any]) -> dict[str, Any]:
    connect = values.get("genConnectStatus")
    return {
        "t": dt.datetime.fromtimestamp(int(values["readingTime"]), dt.UTC)
        if "readingTime" in values
        else None,
        "operating_state": SEP2_OPERATING.get(int(values.get("operationalModeStatus", 0)), "unknown"),
        "connection_status": "unknown"
        if connect is None
        else ("connected" if int(connect) & 1 else "disconnected"),
        "alarm_status": "inverter fault" if values.get("inverterStatus") == 7 else "",
    }


@transaction.atomic
def do_record_sep2_der_state(
    actor: Actor, source: str, der_id: int, kind: str, values: dict[str, Any]
) -> Sep2EndDevice:
    """Store what a device PUT (DERCapability, DERSettings, DERStatus, DERAvailability) and carry
    it into the registry: nameplate, configuration or monitoring."""
    if kind not in SEP2_KIND_FIELDS:
        raise refuse("kind", f"{kind!r} is not a 2030.5 DER resource.")
    # Not the other reports' documents: a DERStatus PUT comes with every poll.
    edev = Sep2EndDevice.objects.filter(der_id=der_id).only("der_id", "reported_at").first()
    edev = edev or do_register_sep2_end_device(actor, source, der_id, None)
    if kind in ("dercap", "derg"):
        _apply_or_alarm(actor, source, DER.objects.get(pk=der_id), kind, values)
    elif kind == "ders":
        store_keeping_latest(der_id, _monitoring_from_status(values))
    setattr(edev, SEP2_KIND_FIELDS[kind], values)
    edev.reported_at = {**edev.reported_at, kind: timezone.now().isoformat()}
    edev.save(update_fields=[SEP2_KIND_FIELDS[kind], "reported_at", "changed_at"])
    return edev


@transaction.atomic
def do_record_sep2_response(
    actor: Actor,
    source: str,
    der_id: int,
    setpoint_id: int,
    subject: str,
    status: int,
    created_at: dt.datetime,
) -> Sep2Response:
    """A device answered a DERControl: the set point it stands for is acknowledged, superseded or failed."""
    # The DER's row first, as do_issue_setpoint takes it: the Response's foreign key needs that row at
    # commit, and a dispatch holding it while superseding this set point deadlocked with us.
    DER.objects.select_for_update().filter(pk=der_id).first()
    setpoint = SetPoint.objects.select_for_update().get(pk=setpoint_id, der_id=der_id)
    response = Sep2Response.objects.create(
        der_id=der_id, setpoint=setpoint, subject=subject, status=status, created_at=created_at
    )
    target = SEP2_RESPONSE_SETPOINT.get(status, "failed" if status >= 252 else "")
    before = setpoint.status
    if target and before != "superseded" and not (target == "acknowledged" and before == "failed"):
        setpoint.status = target
        setpoint.save(update_fields=["status"])
    audit.record(
        actor,
        source,
        "der.sep2_response",
        setpoint.der,
        before={"setpoint": setpoint.pk, "status": before},
        after={"setpoint": setpoint.pk, "status": setpoint.status, "response": status},
    )
    _publish(setpoint.der, "der.setpoint")
    return response


@transaction.atomic
def do_record_sep2_log_event(actor: Actor, source: str, der_id: int, values: dict[str, Any]) -> Sep2LogEvent:
    der = DER.objects.get(pk=der_id)
    event = Sep2LogEvent.objects.create(der=der, **values)
    audit.record(actor, source, "der.sep2_log_event", der, after=audit.snapshot(event))
    return event


@transaction.atomic
def do_sep2_subscribe(actor: Actor, source: str, der_id: int, values: dict[str, Any]) -> Sep2Subscription:
    der = DER.objects.get(pk=der_id)
    if der.sep2_subscriptions.count() >= 16:
        raise refuse("subscription", "A device may hold at most 16 subscriptions; delete one first.")
    sub = Sep2Subscription.objects.create(der=der, **values)
    audit.record(actor, source, "der.sep2_subscribe", der, after=audit.snapshot(sub))
    return sub


@transaction.atomic
def do_note_sep2_edition(actor: Actor, source: str, lfdi: str, edition: str) -> None:
    """A client sent a document in another edition of 2030.5 than the registry had for it: from now
    on its GETs are answered in that one. The client is a device or an aggregator (by its LFDI)."""
    rows: list[DER | DERGroup] = [*DER.objects.filter(lfdi=lfdi).exclude(status=Status.DECOMMISSIONED)]
    rows += DERGroup.objects.filter(lfdi=lfdi, kind=DERGroup.Kind.AGGREGATOR)
    for row in rows:
        if row.sep2_edition == edition:
            continue
        before = audit.snapshot(row)
        row.sep2_edition = edition
        row.save(update_fields=["sep2_edition"])
        audit.record(actor, source, "sep2.edition", row, before=before, after=audit.snapshot(row))


@transaction.atomic
def do_sep2_unsubscribe(actor: Actor, source: str, der_id: int, sub_id: int) -> None:
    sub = Sep2Subscription.objects.filter(pk=sub_id, der_id=der_id).first()
    if sub is None:
        raise refuse("subscription", f"Subscription {sub_id} does not exist for this device.")
    audit.record(actor, source, "der.sep2_unsubscribe", sub.der, before=audit.snapshot(sub))
    sub.delete()
