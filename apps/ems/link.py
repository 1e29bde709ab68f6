"""Send the EMS→DMS messages of a stored OPF run to their DSOs over DNP3 and record the answers
(docs/protocols/dnp3-ems-dms.md). Used by `manage.py run_ems_link` and the Celery task
`crest.ems.send_run` (the "Send to DSOs" button of /ems/runs/<id>/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.stack import TlsFiles, shutdown_manager
from apps.ems.actions import do_record_dso_exchange
from apps.ems.engine.dnp3_link import EmsDnp3Master
from apps.ems.engine.dso_exchange import Exchange, Outgoing, exchange
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from apps.ems.sending import (
    ANSWER_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    Linked,
    LinkError,
    check_tls,
    mark,
    sendable,
    unmark,
)
from crest_web.accounts.audit import Actor


@dataclass(frozen=True)
class SendReport:
    run: OpfRun
    sent: list[tuple[DsoMessage, DsoEndpoint, Exchange]]
    no_endpoint: list[int]  # buses of the run without a DSO endpoint: not sent
    mismatched: list[str]  # messages not sent: their count is not their registered interface's


def tls_files(folder: Path | None) -> TlsFiles | None:
    try:
        return TlsFiles.in_folder(folder, "master")
    except FileNotFoundError as exc:
        raise LinkError(str(exc)) from None


def outgoing(message: DsoMessage, endpoint: DsoEndpoint) -> Outgoing:
    return Outgoing(
        name=endpoint.name,
        interval_id=message.pk,  # unique per message: an answer is never taken for another's
        q_request_kvar=message.q_request_kvar,
        q_base_kvar=message.q_base_kvar or 0.0,
        count=message.count,
        v_pu=message.v_pu,
        pv_curtailment_kw=message.pv_curtailment_kw,
        dr_kw=message.dr_kw,
        interval_s=_interval_s(message),
    )


def _interval_s(message: DsoMessage) -> float:
    """The interval of the cycle the message's run belongs to (0 for a run sent by hand)."""
    cycle = message.run.cycle
    return float(cycle.interval_s) if cycle is not None else 0.0


def find_run(run_id: int | None) -> OpfRun:
    """The run `run_id`, or the newest run when None."""
    run = OpfRun.objects.filter(pk=run_id).first() if run_id is not None else OpfRun.objects.first()
    if run is None:
        raise LinkError(f"There is no OPF run {run_id}." if run_id else "There is no stored OPF run.")
    return run


def send_run(
    run_id: int | None,
    actor: Actor,
    source: str,
    *,
    tls_dir: Path | None = None,
    tls_hint: str = "give --tls-dir",
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    answer_timeout_s: float = ANSWER_TIMEOUT_S,
) -> SendReport:
    """Send every unanswered message of the run that has a registered interface with its feeder count,
    one DSO after another, wait for
    all answers together and record each exchange (`do_record_dso_exchange`). LinkError, sending
    nothing, when nothing is sendable or the run is being sent already."""
    run = find_run(run_id)
    plan = sendable(run)
    linked = plan.linked
    tls = tls_files(tls_dir)
    check_tls(linked, tls_dir, tls_hint)
    if not mark("sending", run.pk):
        raise LinkError(f"OPF run {run.pk} is being sent to its DSOs already; wait for the answers.")
    try:
        results = _exchange(linked, tls, connect_timeout_s, answer_timeout_s)
        for (m, _), result in zip(linked, results, strict=True):
            do_record_dso_exchange(actor, source, m.pk, result)
    finally:
        unmark("sending", run.pk)
    sent = [(m, e, r) for (m, e), r in zip(linked, results, strict=True)]
    return SendReport(run, sent, plan.no_endpoint, plan.mismatched)


def _exchange(
    linked: Linked, tls: TlsFiles | None, connect_timeout_s: float, answer_timeout_s: float
) -> list[Exchange]:
    master = EmsDnp3Master(MasterOptions(event_poll_s=0.5))
    try:
        for _, e in linked:
            master.add_dso(e.name, e.host, e.port, e.address, tls if e.tls else None)
        return exchange(
            master,
            [outgoing(m, e) for m, e in linked],
            connect_timeout_s=connect_timeout_s,
            answer_timeout_s=answer_timeout_s,
        )
    finally:
        master.close()
        shutdown_manager()
