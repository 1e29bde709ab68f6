"""What IEEE 2030.5 metering mirrors change in the registry: the mirror itself (audited) and the
P, Q, V, f readings posted to it, which become monitoring samples (not audited, like every
monitoring sample: they arrive every few seconds)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.der_registry.actions._common import _publish, refuse
from apps.der_registry.actions.telemetry import _store_monitoring
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.engine.sep2.mirror import (
    HOUR_S,
    READINGS_KEPT_S,
    MeteringError,
    MeterReadingPost,
    MirrorPost,
    ReadingType,
    check_reading_type,
    monitoring_values,
)
from apps.der_registry.models import DER, MonitoringSample, Sep2MirrorReading, Sep2MirrorUsagePoint
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor

MAX_MIRRORS = 4  # per DER: a device needs one; a few more leave room for a revenue meter
MAX_METER_READINGS = 16  # per mirror
OLDEST_READING = dt.timedelta(days=7)
PLAUSIBLE_OF_RATING = 2.0  # |P| or |Q| beyond this multiple of the kVA rating is a scaling mistake
TYPE_KEYS = ("uom", "power_of_ten", "flow_direction", "phase")
MEASURED = ("p_kw", "q_kvar", "v_pu", "f_hz")


def _next_index(entries: dict[str, Any]) -> int:
    return 1 + max((int(e.get("index", -1)) for e in entries.values()), default=-1)


def _merged_types(stored: dict[str, Any], posted: Sequence[MeterReadingPost]) -> dict[str, Any]:
    """The mirror's MirrorMeterReadings after this post: new ones need a ReadingType, known ones
    may restate it (a changed type replaces the old one)."""
    merged = {k: dict(v) for k, v in stored.items()}
    for mr in posted:
        if mr.reading_type is None and mr.mrid not in merged:
            raise refuse(
                "readings",
                f"MirrorMeterReading {mr.mrid} is new to this mirror and has no ReadingType; "
                "say what it measures (uom, powerOfTenMultiplier, flowDirection).",
            )
        if mr.reading_type is not None:
            try:
                check_reading_type(mr.mrid, mr.reading_type)
            except MeteringError as exc:
                raise refuse("readings", str(exc)) from None
            if mr.mrid not in merged:  # its MeterReading's href number (`usage`), never reused
                merged[mr.mrid] = {"index": _next_index(merged)}
            entry = merged[mr.mrid]
            entry.update(asdict(mr.reading_type))
            entry["description"] = (mr.description or entry.get("description", ""))[:32]
    if len(merged) > MAX_METER_READINGS:
        raise refuse("readings", f"A mirror holds at most {MAX_METER_READINGS} MirrorMeterReadings.")
    return merged


def _definition(mirror: Sep2MirrorUsagePoint) -> dict[str, Any]:
    """What the audit log tracks of a mirror: everything but the latest readings."""
    types = {k: {t: v.get(t) for t in (*TYPE_KEYS, "description")} for k, v in mirror.meter_readings.items()}
    return {
        "mrid": mirror.mrid,
        "description": mirror.description,
        "role_flags": mirror.role_flags,
        "service_category": mirror.service_category,
        "status": mirror.status,
        "post_rate": mirror.post_rate,
        "meter_readings": types,
    }


def _plausible(der: DER, values: dict[str, Any]) -> None:
    s_kva = float(der.effective()["apparent_power_kva"].value or 0.0)
    for name, words in (("p_kw", "P"), ("q_kvar", "Q")):
        amount = values.get(name)
        if s_kva > 0 and amount is not None and abs(amount) > PLAUSIBLE_OF_RATING * s_kva:
            raise refuse(
                name,
                f"{words} of {amount:g} is more than {PLAUSIBLE_OF_RATING:g} times {der.name}'s "
                f"{s_kva:g} kVA rating; check the reading's powerOfTenMultiplier and uom.",
            )


def store_keeping_latest(der_id: int, values: dict[str, Any]) -> MonitoringSample:
    """A sample that reports only some quantities (a DERStatus: state only; a mirror post: P, Q, V,
    f) leaves the latest value of the others standing instead of blanking them."""
    return _store_monitoring(der_id, values, keep_missing=True)


def _record_readings(
    der: DER, mirror: Sep2MirrorUsagePoint, posted: Sequence[MeterReadingPost]
) -> list[MonitoringSample]:
    now = timezone.now()
    triples = [
        (mr.mrid, ReadingType(**{k: mirror.meter_readings[mr.mrid][k] for k in TYPE_KEYS}), r)
        for mr in posted
        for r in mr.readings
    ]
    if not triples:
        return []
    try:
        v_nominal = der.effective()["v_nominal_v"].value
        samples = monitoring_values(
            triples, None if v_nominal is None else float(v_nominal), int(now.timestamp())
        )
    except MeteringError as exc:
        raise refuse("readings", str(exc)) from None
    stored = []
    for values in samples:
        t = dt.datetime.fromtimestamp(values.pop("t_s"), dt.UTC)
        if t < now - OLDEST_READING:
            raise refuse(
                "t", f"A reading from {t:%Y-%m-%d %H:%M} UTC is more than 7 days old; check the device clock."
            )
        _plausible(der, values)
        stored.append(store_keeping_latest(der.pk, {"t": t, **values}))
    _keep_series(mirror, posted, int(now.timestamp()))
    for mr in posted:
        if mr.readings:
            newest = max(mr.readings, key=lambda r: r.t_s or 0)
            entry, t_s = mirror.meter_readings[mr.mrid], newest.t_s or int(now.timestamp())
            if t_s >= entry.get("last_update_s", t_s):  # a late (back-filled) reading is not the latest
                entry["last_value"], entry["last_update_s"] = newest.value, t_s
    return stored


def _keep_series(mirror: Sep2MirrorUsagePoint, posted: Sequence[MeterReadingPost], now_s: int) -> None:
    """Every posted reading, in whatever unit, joins the mirror's series (a re-post of the same time
    replaces it); readings older than READINGS_KEPT_S go, checked once an hour per MeterReading
    rather than at every post (a DELETE per poll would cost the server more than the poll)."""
    if not any(mr.readings for mr in posted):
        return
    if mirror.pk is None:  # readings in the MirrorUsagePoint that makes it: the rows need its key
        mirror.save()
    rows = {
        (mr.mrid, r.t_s or now_s): Sep2MirrorReading(
            mirror=mirror, mr_mrid=mr.mrid, t_s=r.t_s or now_s, value=r.value, quality_flags=r.quality_flags
        )
        for mr in posted
        for r in mr.readings
    }
    Sep2MirrorReading.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["mirror", "mr_mrid", "t_s"],
        update_fields=["value", "quality_flags"],
    )
    due = {mrid for mrid, _ in rows if now_s - mirror.meter_readings[mrid].get("pruned_s", 0) >= HOUR_S}
    if due:
        Sep2MirrorReading.objects.filter(
            mirror=mirror, mr_mrid__in=due, t_s__lt=now_s - READINGS_KEPT_S
        ).delete()
        for mrid in due:
            mirror.meter_readings[mrid]["pruned_s"] = now_s


@transaction.atomic
def do_save_sep2_mirror(
    actor: Actor, source: str, der_id: int, post: MirrorPost
) -> tuple[Sep2MirrorUsagePoint, bool]:
    """A device POSTed its MirrorUsagePoint: a new mRID makes a mirror, a known one updates it;
    readings in it are recorded as for do_record_sep2_readings. Returns (mirror, made)."""
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status == Status.DECOMMISSIONED:
        raise refuse("der", f"{der.name} is decommissioned and cannot report readings.")
    if post.service_category != 0:
        raise refuse("serviceCategoryKind", "Only electricity mirrors (serviceCategoryKind 0) are served.")
    mirror = Sep2MirrorUsagePoint.objects.select_for_update().filter(mrid=post.mrid).first()
    if mirror is not None and mirror.der_id != der.pk:
        raise refuse(
            "mrid", f"The mRID {post.mrid} already names another device's mirror; use a mRID of your own."
        )
    made = mirror is None
    if made and der.sep2_mirrors.count() >= MAX_MIRRORS:
        raise refuse("mrid", f"{der.name} already has {MAX_MIRRORS} mirrors; delete one first.")
    mirror = mirror or Sep2MirrorUsagePoint(der=der, mrid=post.mrid)
    before = None if made else _definition(mirror)
    mirror.meter_readings = _merged_types(mirror.meter_readings if not made else {}, post.meter_readings)
    mirror.description, mirror.role_flags = post.description[:32], post.role_flags
    mirror.service_category, mirror.status, mirror.post_rate = (
        post.service_category,
        post.status,
        post.post_rate,
    )
    _record_readings(der, mirror, post.meter_readings)
    mirror.save()
    after = _definition(mirror)
    if before != after:
        audit.record(actor, source, "der.sep2_mirror", der, before=before, after=after)
        _publish(der, "der.sep2_mirror")
    return mirror, made


@transaction.atomic
def do_record_sep2_readings(
    actor: Actor,
    source: str,
    mirror_id: int,
    posted: Sequence[MeterReadingPost],
    der_ids: Sequence[int] | None = None,
) -> list[MonitoringSample]:
    """Readings POSTed to a mirror become monitoring samples (one per reading time), in the
    registry's units and signs; any bad reading refuses the whole post and nothing is stored.
    With `der_ids`, only a mirror of those DERs (the posting client's) is found: otherwise
    Sep2MirrorUsagePoint.DoesNotExist, checked in the same statement that locks it."""
    mirrors = Sep2MirrorUsagePoint.objects.select_for_update().select_related("der")
    if der_ids is not None:
        mirrors = mirrors.filter(der_id__in=der_ids)
    mirror = mirrors.get(pk=mirror_id)
    before = _definition(mirror)
    mirror.meter_readings = _merged_types(mirror.meter_readings, posted)
    samples = _record_readings(mirror.der, mirror, posted)
    mirror.save(update_fields=["meter_readings", "changed_at"])
    after = _definition(mirror)
    if before != after:
        audit.record(actor, source, "der.sep2_mirror", mirror.der, before=before, after=after)
    return samples


@transaction.atomic
def do_delete_sep2_mirror(actor: Actor, source: str, mirror_id: int) -> None:
    mirror = Sep2MirrorUsagePoint.objects.select_for_update().select_related("der").get(pk=mirror_id)
    audit.record(actor, source, "der.sep2_mirror_delete", mirror.der, before=_definition(mirror))
    _publish(mirror.der, "der.sep2_mirror")
    mirror.delete()
