"""Per-feeder dispatch modes (issue #12 item 6), over the real EMS–DMS DNP3 link with the feeder's
DERs as DNP3 outstations. Manual: the DMS computes the set points and sends nothing until an
operator approves them; approved in time, they go out and the EMS hears what the DERs confirmed;
not approved by the deadline, nothing is sent, the EMS hears "not dispatched" and an approval after
the deadline is refused with a clear message. A planner cannot approve. Disabled: the request is
answered "not dispatched" and nothing is computed. Each change is audited."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from apps.der_registry.models import SetPoint
from apps.dms.actions import DispatchError, do_approve_dispatch
from apps.dms.models import DispatchRun, Feeder
from apps.ems.models import DsoMessage, OpfRun
from crest_web.accounts.models import AuditRecord
from tests.conftest import client_for
from tests.integration.dnp3_support import until
from tests.integration.dso_support import opf_run, present

pytestmark = pytest.mark.django_db(transaction=True)


def request(bases: tuple[tuple[float, float], tuple[float, float]]) -> tuple[OpfRun, threading.Thread, list]:
    """Send a new OPF run's messages in the background (the EMS waits for the answers)."""
    run = opf_run(*bases)
    docs: list[dict[str, Any]] = []

    def send() -> None:
        out = io.StringIO()
        call_command("run_ems_link", "--run", str(run.pk), "--answer-timeout", "60", "--json", stdout=out)
        docs.append(json.loads(out.getvalue()))

    thread = threading.Thread(target=send)
    thread.start()
    return run, thread, docs


def held(run: OpfRun) -> DispatchRun | None:
    return DispatchRun.objects.filter(ems_request_id=run.messages.get(bus=5).pk, status="held").first()


@pytest.mark.usefixtures("worker", "gateways")
def test_it_sends_nothing_until_an_operator_approves(admin_user: User, operator: User, planner: User) -> None:
    bases = present(Feeder.objects.get(name="feedera")), present(Feeder.objects.get(name="bare"))
    mode = client_for(admin_user).post("/feeders/feedera/dispatch-mode/", {"mode": "manual"}, follow=True)
    assert "Manual: an operator approves" in mode.content.decode()
    assert AuditRecord.objects.filter(action="feeder.dispatch_mode", after={"mode": "manual"}).exists()

    run, thread, docs = request(bases)
    assert until(lambda: held(run) is not None)
    waiting = held(run)
    assert waiting is not None and waiting.approval_deadline is not None
    assert not SetPoint.objects.filter(dispatch_run=waiting).exists()  # nothing sent yet
    page = client_for(operator).get(f"/feeders/feedera/dispatch/{waiting.pk}/").content.decode()
    assert "Awaiting approval until" in page and "Approve and send" in page
    url = f"/feeders/feedera/dispatch/{waiting.pk}/approve/"
    assert client_for(planner).post(url).status_code == 403
    approved = client_for(operator).post(url, follow=True)
    assert "approved: its set points are on their way" in approved.content.decode()
    thread.join(90)
    message = run.messages.get(bus=5)
    waiting.refresh_from_db()
    assert waiting.status == "done" and waiting.approved_by == operator
    assert SetPoint.objects.filter(dispatch_run=waiting, status="acknowledged").count() == 10
    assert message.dms_healthy is True and message.fallback_active is False
    assert docs and [d["error"] for d in docs[0]["dsos"] if d["bus"] == 5] == [""]

    # Not approved in time: nothing goes out, the EMS hears "not dispatched", a late approval is refused.
    run, thread, docs = request(bases)
    assert until(lambda: held(run) is not None)
    late = held(run)
    assert late is not None and late.approval_deadline is not None
    thread.join(90)
    late.refresh_from_db()
    assert late.status == "expired" and not SetPoint.objects.filter(dispatch_run=late).exists()
    message = run.messages.get(bus=5)
    assert message.fallback_active is True and message.dms_shortfall_cause == "not dispatched"
    with pytest.raises(DispatchError, match=r"Too late: the approval window of dispatch \d+ closed at"):
        do_approve_dispatch(operator, "web", late.pk)
    refused = client_for(operator).post(f"/feeders/feedera/dispatch/{late.pk}/approve/", follow=True)
    assert "Nothing was sent; feeder feedera holds its previous set points." in refused.content.decode()
    assert not SetPoint.objects.filter(dispatch_run=late).exists()


@pytest.mark.usefixtures("worker", "gateways")
def test_it_answers_a_disabled_feeders_requests_without_dispatching(admin_user: User, operator: User) -> None:
    bases = present(Feeder.objects.get(name="feedera")), present(Feeder.objects.get(name="bare"))
    url = "/feeders/feedera/dispatch-mode/"
    assert client_for(operator).post(url, {"mode": "disabled"}).status_code == 403
    bad = client_for(admin_user).post(url, {"mode": "sometimes"}, follow=True)
    said = [str(m) for m in bad.context["messages"]]
    assert said == ["The dispatch mode must be one of automatic, manual, disabled, not 'sometimes'."]
    assert Feeder.objects.get(name="feedera").dispatch_mode == "automatic"
    client_for(admin_user).post("/feeders/feedera/dispatch-mode/", {"mode": "disabled"})
    run, thread, _ = request(bases)
    thread.join(90)
    message = DsoMessage.objects.get(run=run, bus=5)
    assert message.answered_at is not None and message.dms_shortfall_cause == "not dispatched"
    assert not DispatchRun.objects.filter(feeder__name="feedera").exists()
