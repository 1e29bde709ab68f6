"""An active alarm says what is wrong now. Found on the demo: the DSO's "request not met" alarm
still read "506 kvar short of 1,312 kvar requested" three OPF runs later, when the DMS had answered
"received 1,828.7 kvar, achieved 1,817.7; 61 voltage violations left". Raising an alarm that is
already active keeps the one alarm (no flood) but brings its message up to date, audited."""

from __future__ import annotations

import pytest

from apps.alarms.actions import do_raise_alarm
from apps.alarms.models import Alarm
from crest_web.accounts.models import AuditRecord

FIRST = "DSO ieee123 at bus 5: 506 kvar short of 1,312 kvar requested (voltage limit)."
LATER = "DSO ieee123 at bus 5: 61 voltage violations left after its dispatch."


def raise_shortfall(message: str) -> tuple[Alarm, bool]:
    return do_raise_alarm(None, "ems", kind="dso_shortfall", source_type="dso", source_id=5, message=message)


@pytest.mark.django_db
def test_it_brings_an_active_alarms_message_up_to_date() -> None:
    first, new = raise_shortfall(FIRST)
    assert new
    again, new_again = raise_shortfall(LATER)
    assert (again.pk, new_again) == (first.pk, False)
    (active,) = Alarm.objects.filter(kind="dso_shortfall", cleared_at__isnull=True)
    assert active.message == LATER and active.raised_at == first.raised_at
    update = AuditRecord.objects.get(action="alarm.update")
    assert (update.before, update.after) == ({"message": FIRST}, {"message": LATER})


@pytest.mark.django_db
def test_it_leaves_an_unchanged_alarm_alone() -> None:
    raise_shortfall(FIRST)
    raise_shortfall(FIRST)
    assert Alarm.objects.filter(kind="dso_shortfall").count() == 1
    assert not AuditRecord.objects.filter(action="alarm.update").exists()
