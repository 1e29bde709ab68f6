"""Every state change of alarms. Each do_* owns its transaction, writes the audit record and
publishes on topic "alarms" after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.alarms.counts import alarm_counts
from apps.alarms.models import Alarm
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit


class AlarmError(ValueError):
    """A request about alarms refused; the message says why."""


def _publish(alarm: Alarm, event: str) -> None:
    publish_on_commit(
        "alarms",
        event,
        {
            "id": alarm.pk,
            "kind": alarm.kind,
            "severity": alarm.severity,
            "source": f"{alarm.source_type}:{alarm.source_id}",
            "label": alarm.source_label,
            "message": alarm.message,
            "active": alarm.active,
            "acknowledged": alarm.acknowledged_at is not None,
            "counts": alarm_counts(),  # keeps every page's nav badge current
        },
    )


def _check(kind: str, severity: str, message: str) -> None:
    if kind not in Alarm.Kind.values:
        raise AlarmError(f"Unknown alarm kind {kind!r}; known: {', '.join(Alarm.Kind.values)}.")
    if severity not in Alarm.Severity.values:
        raise AlarmError(f"Unknown severity {severity!r}; known: {', '.join(Alarm.Severity.values)}.")
    if not message.strip():
        raise AlarmError("An alarm needs a message saying what is wrong.")


@transaction.atomic
def do_raise_alarm(
    actor: Actor,
    source: str,
    *,
    kind: str,
    source_type: str,
    source_id: str | int,
    message: str,
    severity: str = Alarm.Severity.MAJOR,
    source_label: str = "",
) -> tuple[Alarm, bool]:
    """Raise an alarm unless one of this kind is already active for the source (idempotent).
    Returns the active alarm and whether it was new."""
    _check(kind, severity, message)
    sid = str(source_id)
    existing = (
        Alarm.objects.select_for_update()
        .filter(kind=kind, source_type=source_type, source_id=sid, cleared_at__isnull=True)
        .first()
    )
    if existing is not None:
        _bring_up_to_date(actor, source, existing, message[:300])
        return existing, False
    try:
        with transaction.atomic():
            alarm = Alarm.objects.create(
                kind=kind,
                severity=severity,
                source_type=source_type,
                source_id=sid,
                source_label=source_label[:120],
                message=message[:300],
            )
    except IntegrityError:  # raised by a concurrent caller in between: theirs is the one
        return Alarm.objects.get(
            kind=kind, source_type=source_type, source_id=sid, cleared_at__isnull=True
        ), False
    audit.record(actor, source, "alarm.raise", alarm, after=_snap(alarm))
    _publish(alarm, "alarm.raised")
    return alarm, True


def _bring_up_to_date(actor: Actor, source: str, alarm: Alarm, message: str) -> None:
    """An active alarm says what is wrong now: the condition may have changed while it stayed
    active (a shortfall that became violations left). One alarm still, its new text audited."""
    if alarm.message == message:
        return
    before = alarm.message
    alarm.message = message
    alarm.save(update_fields=["message"])
    audit.record(actor, source, "alarm.update", alarm, before={"message": before}, after={"message": message})
    _publish(alarm, "alarm.updated")


@transaction.atomic
def do_clear_alarm(
    actor: Actor, source: str, *, kind: str, source_type: str, source_id: str | int, note: str = ""
) -> Alarm | None:
    """Clear the active alarm of this kind for the source; None when there is none."""
    alarm = (
        Alarm.objects.select_for_update()
        .filter(kind=kind, source_type=source_type, source_id=str(source_id), cleared_at__isnull=True)
        .first()
    )
    if alarm is None:
        return None
    alarm.cleared_at = timezone.now()
    alarm.save(update_fields=["cleared_at"])
    audit.record(
        actor, source, "alarm.clear", alarm, after={"cleared_at": alarm.cleared_at}, reason=note[:200]
    )
    _publish(alarm, "alarm.cleared")
    return alarm


def _signed_in(actor: Actor) -> User:
    if actor is None or not actor.is_authenticated:
        raise AlarmError("Only a signed-in person can acknowledge an alarm.")
    return actor


def _acknowledge(actor: User, source: str, alarm: Alarm, now: datetime) -> None:
    """The one way an alarm becomes acknowledged, alone or with others; the caller holds its row lock."""
    alarm.acknowledged_by = actor
    alarm.acknowledged_at = now
    alarm.save(update_fields=["acknowledged_by", "acknowledged_at"])
    audit.record(actor, source, "alarm.acknowledge", alarm, after={"acknowledged_at": now})
    _publish(alarm, "alarm.acknowledged")


@transaction.atomic
def do_acknowledge_alarm(actor: Actor, source: str, alarm_id: int) -> Alarm:
    alarm = Alarm.objects.select_for_update().filter(pk=alarm_id).first()
    if alarm is None:
        raise AlarmError(f"There is no alarm {alarm_id}.")
    if alarm.acknowledged_at is not None:
        raise AlarmError(f"Alarm {alarm_id} was already acknowledged.")
    _acknowledge(_signed_in(actor), source, alarm, timezone.now())
    return alarm


@transaction.atomic
def do_acknowledge_alarms(actor: Actor, source: str, alarm_ids: list[int]) -> tuple[list[Alarm], int]:
    """Acknowledge the listed alarms together, each audited on its own; all or none. Ones a
    colleague acknowledged meanwhile are left as they are. Returns the alarms acknowledged now
    and how many were already acknowledged."""
    person = _signed_in(actor)
    wanted = sorted(set(alarm_ids))
    if not wanted:
        raise AlarmError("No alarms were listed to acknowledge.")
    found = {a.pk: a for a in Alarm.objects.select_for_update().filter(pk__in=wanted).order_by("pk")}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise AlarmError(f"There is no alarm {', '.join(missing)}; nothing was acknowledged.")
    now = timezone.now()
    done = [a for a in found.values() if a.acknowledged_at is None]
    for alarm in done:
        _acknowledge(person, source, alarm, now)
    return done, len(found) - len(done)


def _snap(alarm: Alarm) -> dict[str, Any]:
    return audit.snapshot(alarm, ["kind", "severity", "source_type", "source_id", "source_label", "message"])
