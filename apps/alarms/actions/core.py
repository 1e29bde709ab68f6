"""Raising, clearing and acknowledging alarms, suppression, and the shelf primitives the clearing
of an alarm needs (apps/alarms/engine/isa182.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.alarms.counts import alarm_counts
from apps.alarms.engine import isa182
from apps.alarms.models import Alarm, AlarmOutOfService, AlarmPriority, AlarmShelf
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit


class AlarmError(ValueError):
    """A request about alarms refused; the message says why."""


MAX_COMMENT = 200
SNAPSHOT_FIELDS = [
    "kind", "priority", "chattering", "suppressed_by", "source_type", "source_id", "source_label", "message",
]  # fmt: skip
_CHATTER = dt.timedelta(seconds=isa182.CHATTER_WINDOW_S)


def priority_of(kind: str) -> str:
    """The kind's priority: the admin's, else the default of the alarm philosophy."""
    set_by_admin = AlarmPriority.objects.filter(kind=kind).values_list("priority", flat=True).first()
    return set_by_admin or isa182.DEFAULT_PRIORITY.get(kind, Alarm.Priority.MEDIUM)


def _publish(alarm: Alarm, event: str) -> None:
    publish_on_commit(
        "alarms",
        event,
        {
            "id": alarm.pk,
            "kind": alarm.kind,
            "priority": alarm.priority,
            "source": f"{alarm.source_type}:{alarm.source_id}",
            "label": alarm.source_label,
            "message": alarm.message,
            "active": alarm.active,
            "acknowledged": alarm.acknowledged_at is not None,
            "counts": alarm_counts(),  # keeps every page's nav badge current
        },
    )


def _check(kind: str, message: str) -> None:
    if kind not in Alarm.Kind.values:
        raise AlarmError(f"Unknown alarm kind {kind!r}; known: {', '.join(Alarm.Kind.values)}.")
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
    source_label: str = "",
    suppressed_by: str = "",
) -> tuple[Alarm, bool]:
    """Raise an alarm unless one of this kind is already active for the source (idempotent), at its
    kind's priority; flagged chattering when it is the third activation within a minute. Returns
    the active alarm and whether it was new."""
    _check(kind, message)
    sid = str(source_id)
    if not suppressed_by:  # a DER under maintenance: its alarms are kept, out of the operator's way
        held = AlarmOutOfService.objects.filter(
            source_type=source_type, source_id=sid, returned_at__isnull=True
        )
        suppressed_by = next((o.label for o in held), "")
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
            now = timezone.now()
            earlier = Alarm.objects.filter(
                kind=kind, source_type=source_type, source_id=sid, raised_at__gte=now - _CHATTER
            ).values_list("raised_at", flat=True)
            alarm = Alarm.objects.create(
                kind=kind,
                priority=priority_of(kind),
                chattering=isa182.chattering([*earlier, now], now),
                suppressed_by=suppressed_by[:120],
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
    one_shot = _open_shelf(alarm, lock=True)
    if one_shot is not None and one_shot.one_shot:  # shelved until it clears: it has
        _end_shelf(actor, source, one_shot, alarm, "the alarm cleared")
    _publish(alarm, "alarm.cleared")
    return alarm


def _signed_in(actor: Actor, doing: str = "acknowledge") -> User:
    if actor is None or not actor.is_authenticated:
        raise AlarmError(f"Only a signed-in person can {doing} an alarm.")
    return actor


def _acknowledge(actor: User, source: str, alarm: Alarm, now: dt.datetime, comment: str = "") -> None:
    """The one way an alarm becomes acknowledged, alone or with others; the caller holds its row lock."""
    alarm.acknowledged_by = actor
    alarm.acknowledged_at = now
    alarm.ack_comment = comment
    alarm.save(update_fields=["acknowledged_by", "acknowledged_at", "ack_comment"])
    after = {"acknowledged_at": now, "state": alarm.state.value, **({"comment": comment} if comment else {})}
    audit.record(actor, source, "alarm.acknowledge", alarm, after=after)
    _publish(alarm, "alarm.acknowledged")


def _comment(text: str | None) -> str:
    comment = (text or "").strip()
    if len(comment) > MAX_COMMENT:
        raise AlarmError(f"A comment is at most {MAX_COMMENT} characters; this one has {len(comment)}.")
    return comment


@transaction.atomic
def do_acknowledge_alarm(actor: Actor, source: str, alarm_id: int, comment: str | None = "") -> Alarm:
    person, text = _signed_in(actor), _comment(comment)
    alarm = Alarm.objects.select_for_update().filter(pk=alarm_id).first()
    if alarm is None:
        raise AlarmError(f"There is no alarm {alarm_id}.")
    if alarm.acknowledged_at is not None:
        raise AlarmError(f"Alarm {alarm_id} was already acknowledged.")
    _acknowledge(person, source, alarm, timezone.now(), text)
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
    return audit.snapshot(
        alarm,
        [
            "kind",
            "priority",
            "chattering",
            "suppressed_by",
            "source_type",
            "source_id",
            "source_label",
            "message",
        ],
    )


# Suppression by design (apps/alarms/engine/suppression.py) ---------------------------------------


@transaction.atomic
def do_suppress_alarms(
    actor: Actor, source: str, *, kind: str, source_type: str, source_ids: list[str], by: str
) -> int:
    """Mark the active alarms of these sources suppressed by `by` (a segment down); how many."""
    return _mark(actor, source, source_type, source_ids, "", by[:120], "alarm.suppress", kind)


@transaction.atomic
def do_unsuppress_alarms(
    actor: Actor, source: str, *, kind: str, source_type: str, source_ids: list[str], by: str
) -> int:
    """The reason is gone (the segment is back): the alarms still active are the operator's again."""
    return _mark(actor, source, source_type, source_ids, by[:120], "", "alarm.unsuppress", kind)


def _mark(
    actor: Actor,
    source: str,
    source_type: str,
    ids: list[str],
    was: str,
    now: str,
    action: str,
    kind: str | None = None,
) -> int:
    """Move the sources' active alarms (of `kind`, or every kind) suppressed by `was` to `now`, each
    audited; one live event for the lot — a segment can hold a hundred, and one redraw is enough."""
    alarms = Alarm.objects.select_for_update().filter(
        source_type=source_type, source_id__in=ids, cleared_at__isnull=True, suppressed_by=was
    )
    if kind is not None:
        alarms = alarms.filter(kind=kind)
    done = 0
    for alarm in alarms:
        alarm.suppressed_by = now
        alarm.save(update_fields=["suppressed_by"])
        audit.record(
            actor, source, action, alarm, before={"suppressed_by": was}, after={"suppressed_by": now}
        )
        done += 1
    if done:
        publish_on_commit("alarms", action, {"count": done, "by": now or was, "counts": alarm_counts()})
    return done


def _open_shelf(alarm: Alarm, lock: bool = False) -> AlarmShelf | None:
    shelves = AlarmShelf.objects.filter(
        kind=alarm.kind, source_type=alarm.source_type, source_id=alarm.source_id, ended_at__isnull=True
    )
    return (shelves.select_for_update() if lock else shelves).first()


def _end_shelf(actor: Actor, source: str, shelf: AlarmShelf, alarm: Alarm | None, reason: str) -> None:
    shelf.ended_at, shelf.end_reason = timezone.now(), reason[:60]
    shelf.save(update_fields=["ended_at", "end_reason"])
    if alarm is None:  # the shelf outlived its alarm rows (none is kept): nothing to show
        return
    audit.record(actor, source, "alarm.unshelve", alarm, after={"shelf": shelf.pk}, reason=reason)
    _publish(alarm, "alarm.unshelved")
