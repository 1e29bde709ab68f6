"""The EMS half of one coordination cycle (DESIGN §2; seed 000 §2.2, Fig. 4): collect, the volt/var
OPF within every registered DSO's range as reported in the previous interval, then the requests over
the DNP3 EMS–DMS link and the answers. The DMS half runs in each DSO's own system when the request
arrives. Each stage is recorded once per cycle. A redelivered task reuses what was already done: the
cycle's OPF run, by foreign key. It never sends the requests again: a DMS would dispatch twice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from apps.cycle import actions
from apps.cycle.dms_stages import link_dispatches
from apps.cycle.engine.schedule import Stage, budgets_s
from apps.cycle.models import Cycle
from apps.ems.actions import OpfError, do_run_opf, registered_dsos
from apps.ems.collect import collect_dsos, operating_point_dsos
from apps.ems.engine.case import DEFAULT_CASE
from apps.ems.engine.dso import DsoInterface
from apps.ems.engine.dso_collect import Collected
from apps.ems.link import CONNECT_TIMEOUT_S, SendReport, send_run
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from apps.ems.sending import LinkError

MIN_READ_S = 5.0  # collect waits at least this long for the outstations, whatever the interval
ANSWER_STAGES = (Stage.DMS_STAGE1, Stage.DER_MESSAGING, Stage.DMS_REOPT, Stage.DISPATCH_LIMITS)


@dataclass(frozen=True)
class CycleOptions:
    case: str = DEFAULT_CASE
    tls_dir: Path | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S


def run_ems_half(cycle_id: int, options: CycleOptions) -> Cycle:
    """Run (or finish, after a redelivery) the EMS half of the cycle; the cycle as it ended."""
    cycle = Cycle.objects.get(pk=cycle_id)
    if cycle.status != Cycle.Status.RUNNING:  # a redelivery after the cycle was closed
        return cycle
    try:
        dsos, older = _collect(cycle, options)
        run = _opf(cycle, options, dsos, older)
        if run is None:
            return actions.do_end_cycle(cycle.pk, failed=True, detail="the EMS OPF failed; nothing was sent")
        detail = _request(cycle, run, options)
    except actions.CycleClosed:  # closed at the next boundary while this worked: it sends nothing more
        return Cycle.objects.get(pk=cycle_id)
    return actions.do_end_cycle(cycle.pk, detail=detail)


def _collect(cycle: Cycle, options: CycleOptions) -> tuple[list[DsoInterface], list[str]]:
    """Read every DSO's operating point and ask those without a range from the previous interval
    for their capability first (the first cycle after start-up); the OPF's DSO lines at the
    operating point read, and the names of the DSOs still without a range from the previous
    interval (older, or never reported)."""
    stage, new = actions.do_start_stage(cycle.pk, Stage.COLLECT)
    previous = cycle.interval_start - dt.timedelta(seconds=cycle.interval_s)
    if not new:  # a redelivery: the DSOs were read, their operating points are on the interfaces
        return registered_dsos(), _older(previous)
    budgets = budgets_s(cycle.interval_s)
    found = collect_dsos(
        cycle.pk,
        _older(previous),
        tls_dir=options.tls_dir,
        read_timeout_s=max(budgets[Stage.COLLECT], MIN_READ_S),
        ask_timeout_s=budgets[Stage.EMS_OPF],
    )
    read = [n for n, c in found.items() if not c.error or c.measured_t_s]
    dsos, older = operating_point_dsos(read), _older(previous)
    actions.do_end_stage(stage.pk, detail=_collect_detail(found, older))
    return dsos, older


def _older(previous: dt.datetime) -> list[str]:
    return [
        e.name
        for e in DsoEndpoint.objects.all()
        if e.range_reported_at is None or e.range_reported_at < previous
    ]


def _collect_detail(found: dict[str, Collected], older: list[str]) -> str:
    metered = [n for n, c in found.items() if c.measured_t_s]
    asked = [n for n, c in found.items() if c.range_kvar is not None]
    detail = f"{len(found)} DSO interface{'s' if len(found) != 1 else ''}, {len(metered)} metered"
    if asked:
        detail += f"; capability asked first from {', '.join(asked)}"
    errors = [f"{n}: {c.error}" for n, c in found.items() if c.error]
    if errors:
        detail += "; " + "; ".join(errors)
    if older:
        detail += f"; no range from the previous interval for {', '.join(older)}"
    return detail[:300]


def _opf(cycle: Cycle, options: CycleOptions, dsos: list[DsoInterface], older: list[str]) -> OpfRun | None:
    stage, new = actions.do_start_stage(cycle.pk, Stage.EMS_OPF)
    if not new:  # an earlier delivery solved it (or failed: no run)
        return OpfRun.objects.filter(cycle=cycle).first()
    try:
        run = do_run_opf(
            None, "cycle", options.case, dsos, interval_start=cycle.interval_start, cycle_id=cycle.pk
        )
    except OpfError as exc:
        actions.do_end_stage(stage.pk, failed=True, detail=str(exc))
        return None
    if older:  # solved with whatever range each of those DSOs last gave (seed 000 §4.2)
        Cycle.objects.filter(pk=cycle.pk).update(ems_fallback=True)
    actions.do_alarm_ems_fallback(cycle.pk, older)
    detail = f"OPF run {run.pk}: losses {run.losses_mw_before:.3f} → {run.losses_mw:.3f} MW"
    if older:
        detail += f"; earlier ranges for {', '.join(older)}"
    actions.do_end_stage(stage.pk, fallback=bool(older), detail=detail)
    return run


def _request(cycle: Cycle, run: OpfRun, options: CycleOptions) -> str:
    """Send the requests and wait for the answers until the DMS stages' budgets have run out."""
    stage, new = actions.do_start_stage(cycle.pk, Stage.EMS_REQUEST)
    if not new:
        return stage.detail or "requests already sent by an earlier delivery of this cycle"
    budgets = budgets_s(cycle.interval_s)
    try:
        report = send_run(
            run.pk,
            None,
            "cycle",
            tls_dir=options.tls_dir,
            tls_hint="set CREST_EMS_TLS_DIR",
            connect_timeout_s=options.connect_timeout_s,
            answer_timeout_s=sum(budgets[s] for s in ANSWER_STAGES),
        )
    except LinkError as exc:
        actions.do_end_stage(stage.pk, skipped=True, detail=str(exc))
        return str(exc)
    detail = _summary(report)
    sent = [r.sent_t_s for *_, r in report.sent if r.sent_t_s]
    ended = dt.datetime.fromtimestamp(max(sent), dt.UTC) if sent else timezone.now()
    actions.do_end_stage(stage.pk, failed=not sent, detail=detail, ended_at=ended)
    ids = [m.pk for m, _, _ in report.sent]
    answered = DsoMessage.objects.filter(pk__in=ids, answered_at__isnull=False)
    link_dispatches(cycle, ids, {m.pk: m.answered_at for m in answered if m.answered_at is not None})
    return detail


def _summary(report: SendReport) -> str:
    answered = [m.bus for m, _, r in report.sent if not r.error]
    errors = [f"bus {m.bus}: {r.error}" for m, _, r in report.sent if r.error]
    text = f"{len(report.sent)} DSO{'s' if len(report.sent) != 1 else ''} asked, {len(answered)} answered"
    if errors:
        text += "; " + "; ".join(errors)
    if report.no_endpoint:
        text += f"; no interface for bus {', '.join(str(b) for b in report.no_endpoint)}"
    return text[:300]
