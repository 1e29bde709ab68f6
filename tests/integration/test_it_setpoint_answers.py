"""A device's answer to a set point arriving while a dispatch issues the next one. Seen in the demo on
ckt5 (137 devices behind the aggregator): the fifth dispatch in a row failed with "deadlock detected",
no set point changed. The dispatch locks each DER, then supersedes its set points; the 2030.5 server
recording a Response locked the set point first and, at commit, needed the DER's row (the Response's
foreign key to it) — the two waited for each other. The Response now takes the DER first, as the
dispatch does. (The DNP3 gateway's delivery record inserts nothing that points at the DER: no cycle.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.der_registry import actions
from apps.der_registry.models import DER, SetPoint
from tests.integration.dnp3_support import until

pytestmark = pytest.mark.django_db(transaction=True)
RECEIVED = 1  # IEEE 2030.5 Response status: event received


def issue(der_id: int, q_kvar: float) -> SetPoint:
    return actions.do_issue_setpoint(None, "dispatch", der_id, control_mode="active_reactive", q_kvar=q_kvar)


def waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def test_a_2030_5_response_during_a_dispatch_waits_for_it_and_neither_fails(
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active")
    first = issue(der.pk, 1.0)
    outcome: dict[str, Any] = {}
    answering = threading.Event()

    def record_answer() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            outcome["pid"] = cursor.fetchone()[0]
        answering.set()
        try:
            actions.do_record_sep2_response(
                None, "sep2", der.pk, first.pk, f"mrid-{first.pk}", RECEIVED, timezone.now()
            )
        except Exception as exc:  # the failure this test is about: recorded, asserted below
            outcome["answer"] = exc
        finally:
            connection.close()

    def dispatch() -> None:
        try:
            with transaction.atomic():  # as the dispatch's issuing step: the DER is locked first
                DER.objects.select_for_update().get(pk=der.pk)
                thread = threading.Thread(target=record_answer)
                thread.start()
                answering.wait(10)
                # the answer is now blocked on a lock this transaction holds (before: it had the
                # set point's row and waited, at its commit, for the DER's)
                assert until(lambda: "pid" in outcome and waiting_on_a_lock(outcome["pid"]), limit_s=10.0)
                outcome["second"] = issue(der.pk, 2.0)
        except Exception as exc:
            outcome["dispatch"] = exc
        finally:
            connection.close()
        thread.join(30)

    worker = threading.Thread(target=dispatch)
    worker.start()
    worker.join(60)
    assert "dispatch" not in outcome and "answer" not in outcome, outcome
    statuses = dict(SetPoint.objects.filter(der=der).values_list("pk", "status"))
    # the first was superseded by the dispatch; the late answer does not bring it back
    assert statuses == {first.pk: "superseded", outcome["second"].pk: "issued"}
