"""Shelving (ISA-18.2 §11): an alarm off the operator's list for a time or until it clears."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.alarms.actions.core import AlarmError, _comment, _end_shelf, _open_shelf, _publish, _signed_in
from apps.alarms.engine import isa182
from apps.alarms.models import Alarm, AlarmShelf, ShelvingLimit
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor


def shelf_limit_minutes() -> int:
    """The longest timed shelf an operator may ask for: the admin's, else the default."""
    limit = ShelvingLimit.objects.values_list("limit_minutes", flat=True).first()
    return int(limit) if limit else isa182.SHELF_LIMIT_MINUTES


def _label(alarm: Alarm) -> str:
    return f"{alarm.get_kind_display()} on {alarm.source_label or alarm.source_id}"


@transaction.atomic
def do_shelve_alarm(
    actor: Actor, source: str, alarm_id: int, minutes: float | None, comment: str | None = ""
) -> AlarmShelf:
    """Shelve the alarm's kind on its source for `minutes` (at most the admin's limit), or one-shot
    (None) until it clears; AlarmError in words, nothing changed, when it cannot be."""
    person, text = _signed_in(actor, "shelve"), _comment(comment)
    alarm = Alarm.objects.select_for_update().filter(pk=alarm_id).first()
    if alarm is None:
        raise AlarmError(f"There is no alarm {alarm_id}.")
    if minutes is None and not alarm.active:
        raise AlarmError(
            f"Alarm {alarm_id} has cleared: a one-shot shelf lasts until an alarm clears. "
            "Shelve it for a time."
        )
    if _open_shelf(alarm, lock=True) is not None:
        raise AlarmError(f"{_label(alarm)} is shelved already; unshelve it first to change the shelf.")
    try:
        wanted = isa182.shelf_for(minutes, shelf_limit_minutes(), timezone.now())
    except ValueError as exc:
        raise AlarmError(str(exc)) from None
    shelf = AlarmShelf.objects.create(
        kind=alarm.kind, source_type=alarm.source_type, source_id=alarm.source_id,
        until=wanted.until, shelved_by=person, comment=text,
    )  # fmt: skip
    after = {"shelf": shelf.pk, "until": wanted.until, "one_shot": wanted.one_shot, "comment": text}
    audit.record(person, source, "alarm.shelve", alarm, after=after)
    _publish(alarm, "alarm.shelved")
    return shelf


@transaction.atomic
def do_unshelve_alarm(actor: Actor, source: str, alarm_id: int) -> Alarm:
    person = _signed_in(actor, "unshelve")
    alarm = Alarm.objects.select_for_update().filter(pk=alarm_id).first()
    if alarm is None:
        raise AlarmError(f"There is no alarm {alarm_id}.")
    shelf = _open_shelf(alarm, lock=True)
    if shelf is None:
        raise AlarmError(f"{_label(alarm)} is not shelved.")
    _end_shelf(person, source, shelf, alarm, f"unshelved by {person.get_username()}")
    return alarm


@transaction.atomic
def do_expire_shelves() -> int:
    """End the timed shelves whose time is up (the beat task, every few seconds): their alarms come
    back to the operator's list. How many ended."""
    due = AlarmShelf.objects.select_for_update(skip_locked=True).filter(
        ended_at__isnull=True, until__lte=timezone.now()
    )
    ended = 0
    for shelf in due:
        alarm = Alarm.objects.filter(
            kind=shelf.kind, source_type=shelf.source_type, source_id=shelf.source_id
        ).first()  # the newest: the one the operator sees again
        _end_shelf(None, "system", shelf, alarm, "the shelf expired")
        ended += 1
    return ended
