"""Out of service (ISA-18.2 §12): a DER under maintenance keeps raising its alarms, suppressed."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.alarms.actions.core import AlarmError, _comment, _mark, _signed_in
from apps.alarms.models import AlarmOutOfService
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor


@transaction.atomic
def do_take_out_of_service(
    actor: Actor, source: str, *, source_type: str, source_id: str | int, source_label: str, reason: str
) -> AlarmOutOfService:
    """Put a source's alarms out of service (a DER under maintenance): its active alarms and the
    ones it raises until it is back are suppressed, each audited."""
    person, why = _signed_in(actor, "take out of service"), _comment(reason)
    if not why:
        raise AlarmError("Say why the alarms go out of service (e.g. the maintenance work order).")
    sid = str(source_id)
    if AlarmOutOfService.objects.filter(
        source_type=source_type, source_id=sid, returned_at__isnull=True
    ).exists():
        raise AlarmError(f"The alarms of {source_label or sid} are out of service already.")
    oos = AlarmOutOfService.objects.create(
        source_type=source_type, source_id=sid, source_label=source_label[:120], reason=why, taken_by=person
    )
    audit.record(person, source, "alarm.out_of_service", oos, after={"reason": why})
    _mark(person, source, source_type, [sid], "", oos.label, "alarm.suppress")
    return oos


@transaction.atomic
def do_return_to_service(
    actor: Actor, source: str, *, source_type: str, source_id: str | int
) -> AlarmOutOfService:
    person, sid = _signed_in(actor, "return to service"), str(source_id)
    oos = (
        AlarmOutOfService.objects.select_for_update()
        .filter(source_type=source_type, source_id=sid, returned_at__isnull=True)
        .first()
    )
    if oos is None:
        raise AlarmError(f"The alarms of {source_type} {sid} are in service.")
    oos.returned_at, oos.returned_by = timezone.now(), person
    oos.save(update_fields=["returned_at", "returned_by"])
    audit.record(person, source, "alarm.return_to_service", oos, after={"returned_at": oos.returned_at})
    _mark(person, source, source_type, [sid], oos.label, "", "alarm.unsuppress")
    return oos
