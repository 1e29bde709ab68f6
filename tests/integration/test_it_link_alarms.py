"""The EMS's alarms about the link to each DSO (issue #12 item 7), raised and cleared from what came
of each exchange: no connection ("EMS–DMS link down"), a request taken but not answered in time
("DMS not heard from"), a DMS that says it holds its previous set points ("Fallback active"). Each
names the DSO, says what the EMS does about it, and clears with the next exchange without it."""

from __future__ import annotations

import time

import pytest

from apps.alarms.models import Alarm
from apps.ems.actions import do_record_dso_exchange, do_run_opf, do_save_dso_endpoint
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.dso_exchange import Exchange
from apps.ems.models import DsoMessage

pytestmark = pytest.mark.django_db


def message() -> DsoMessage:
    run = do_run_opf(None, "test", "case9", [DsoInterface(5, 1, -100.0, 100.0)])
    return run.messages.get()


def active(kind: str) -> list[Alarm]:
    return list(Alarm.objects.filter(kind=kind, cleared_at__isnull=True))


def answered(now: float, *, fallback: bool = False) -> Exchange:
    return Exchange(
        "dso-a", sent_t_s=now, answered_t_s=now + 1, q_achieved_kvar=10.0,
        dms_healthy=not fallback, fallback_active=fallback,
    )  # fmt: skip


def test_it_raises_and_clears_the_link_alarms_with_each_exchange() -> None:
    do_save_dso_endpoint(None, "test", bus=5, name="dso-a", host="127.0.0.1", port=20555)
    now = time.time()

    do_record_dso_exchange(
        None, "ems", message().pk, Exchange("dso-a", error="no connection to the DSO's DMS")
    )
    (down,) = active("ems_link_down")
    assert down.message == (
        "DSO dso-a at bus 5: no connection to the DSO's DMS; the EMS uses its last reported range."
    )
    do_record_dso_exchange(
        None, "ems", message().pk, Exchange("dso-a", sent_t_s=now, error="no answer within 24 s")
    )
    assert not active("ems_link_down")  # it connected: the link is up again
    (silent,) = active("dms_silent")
    assert "dso-a at bus 5 took the request but did not answer: no answer within 24 s" in silent.message

    do_record_dso_exchange(None, "ems", message().pk, answered(now, fallback=True))
    assert not active("dms_silent")
    (fallback,) = active("fallback")
    assert (
        fallback.source_id == "5:dms"
        and "is in fallback: it holds its previous set points" in fallback.message
    )

    do_record_dso_exchange(None, "ems", message().pk, answered(now))
    assert not active("fallback") and not active("ems_link_down") and not active("dms_silent")
    assert Alarm.objects.filter(kind__in=["ems_link_down", "dms_silent", "fallback"]).count() == 3
