"""State changes of the EMS. Each do_* owns its transaction, audit record and event."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.alarms.models import Alarm
from apps.ems.engine.case import MAX_BUS_NUMBER, register_upload
from apps.ems.engine.dso import DsoInterface, check_dso, default_interfaces, feeder_count, reconcile
from apps.ems.engine.dso_answer import assess
from apps.ems.engine.dso_exchange import Exchange
from apps.ems.engine.opf import OpfResult, run_opf
from apps.ems.engine.volt_var_lp import Weights
from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun
from apps.ems.sending import LinkError, check_tls, configured_tls_dir, mark, marked, sendable
from crest_web import task_names
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit
from crest_web.task_queue import enqueue_on_commit


class OpfError(ValueError):
    """An OPF request refused or unsolvable; the message says why in plain words."""


def do_run_opf(
    actor: Actor,
    source: str,
    case: str,
    dsos: Sequence[DsoInterface],
    outages: Sequence[str] = (),
    *,
    interval_start: dt.datetime | None = None,
    voltage_weight: float = Weights().voltage,
    case_file: str = "",
    cycle_id: int | None = None,
) -> OpfRun:
    """Solve the volt/var OPF and store it with one EMS→DMS message per DSO. The solve comes first,
    outside the transaction: bad input or no feasible answer stores nothing. ``case_file``: the text
    of an uploaded MATPOWER case, used instead of ``case`` and stored with the inputs."""
    if not 0 <= voltage_weight <= 100:
        raise OpfError("The voltage-deviation weight must be between 0 and 100.")
    try:
        dsos = with_registered(dsos)
        if case_file:
            case = register_upload(case_file)
        result = run_opf(case, dsos, outages, Weights(voltage=voltage_weight))
    except ValueError as exc:
        raise OpfError(str(exc)) from exc
    inputs = {
        "outages": [o.strip() for o in outages],
        "dsos": [d.as_json() for d in dsos],
        "weights": {"voltage": voltage_weight},
        **({"case_file": case_file} if case_file else {}),
    }
    return _store(actor, source, result, dsos, inputs, interval_start or timezone.now(), cycle_id)


def registered_dsos() -> list[DsoInterface]:
    """One DSO line per registered interface, with its registered feeders and base and the range it
    last reported: the OPF's default (form, API and `ems_opf --store`)."""
    return default_interfaces(e.registered() for e in DsoEndpoint.objects.all())


def with_registered(dsos: Sequence[DsoInterface]) -> list[DsoInterface]:
    """The lines checked (absurd values first, before any solve) and reconciled with the registered
    interfaces: ValueError naming both counts when a line's disagrees."""
    for dso in dsos:
        check_dso(dso)
    registered = {e.bus: e.registered() for e in DsoEndpoint.objects.filter(bus__in=[d.bus for d in dsos])}
    return reconcile(dsos, registered)


@transaction.atomic
def _store(
    actor: Actor,
    source: str,
    result: OpfResult,
    dsos: Sequence[DsoInterface],
    inputs: dict[str, object],
    interval_start: dt.datetime,
    cycle_id: int | None = None,
) -> OpfRun:
    run = OpfRun.objects.create(
        created_by=actor if actor is not None and actor.is_authenticated else None,
        interval_start=interval_start,
        cycle_id=cycle_id,
        case=result.case,
        inputs=inputs,
        result=result.as_json(),
        iterations=result.iterations,
        objective_mw=result.objective,
        losses_mw=result.losses_mw,
        losses_mw_before=result.losses_mw_before,
        solve_s=result.solve_s,
    )
    DsoMessage.objects.bulk_create(
        DsoMessage(
            run=run,
            interval_start=interval_start,
            bus=sent.bus,
            count=sent.count,
            q_min_kvar=dso.q_min_kvar,
            q_max_kvar=dso.q_max_kvar,
            q_request_kvar=sent.q_request_kvar,
            v_pu=sent.v_pu,
            pv_curtailment_kw=sent.pv_curtailment_kw,
            dr_kw=sent.dr_kw,
            q_base_kvar=sent.q_base_kvar,
        )
        for dso, sent in zip(dsos, result.dsos, strict=True)
    )
    summary = {
        "case": run.case,
        "interval_start": interval_start,
        "dsos": len(dsos),
        "losses_mw": run.losses_mw,
    }
    audit.record(actor, source, "ems.opf", run, after=summary)
    publish_on_commit(
        "cycle",
        "ems.opf",
        {"id": run.pk, "case": run.case, "interval_start": interval_start.isoformat(), "messages": len(dsos)},
    )
    return run


# --- the DSO link (docs/protocols/dnp3-ems-dms.md) -------------------------------------------------

_HOST = re.compile(r"^[A-Za-z0-9.:\-]{1,120}$")


class EndpointError(LinkError):
    """A DSO interface refused; ``field`` names the form field it is about ("" for the whole)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def check_endpoint(bus: int, name: str, host: str, port: int, address: int) -> None:
    """EndpointError in an operator's words for where the EMS cannot reach a DSO."""
    if bus < 1:
        raise EndpointError(f"Bus numbers start at 1, not {bus}.", "bus")
    if bus > MAX_BUS_NUMBER:
        raise EndpointError(f"Bus numbers go up to {MAX_BUS_NUMBER:,}, not {bus:,}.", "bus")
    if not name.strip():
        raise EndpointError("A DSO interface needs a name.", "name")
    if not _HOST.match(host):
        raise EndpointError(f"{host!r} is not a host name or address.", "host")
    if not 0 < port < 65536:
        raise EndpointError(f"Port {port} is not a TCP port (1–65535).", "port")
    if not 0 <= address <= 65519:
        raise EndpointError(f"DNP3 link address {address} is outside 0–65519.", "address")


def check_interface(bus: int, count: object, base: tuple[float | None, float | None]) -> int:
    """EndpointError for an interface the OPF cannot use; the feeder count as a whole number."""
    try:
        n = feeder_count(count, f"The DSO at bus {bus}")
    except ValueError as exc:
        raise EndpointError(str(exc), "feeder_count") from None
    if (base[0] is None) != (base[1] is None):
        raise EndpointError(
            f"The DSO at bus {bus}: give both the base P and the base Q per feeder, or neither.",
            "q_base_kvar" if base[1] is None else "p_base_kw",
        )
    if any(v is not None and not math.isfinite(v) for v in base):
        raise EndpointError(f"The DSO at bus {bus}: the base P and Q must be finite numbers.")
    return n


@transaction.atomic
def do_save_dso_endpoint(
    actor: Actor,
    source: str,
    *,
    bus: int,
    name: str,
    host: str,
    port: int,
    address: int = 10,
    tls: bool = False,
    feeder_count: object = 1,
    p_base_kw: float | None = None,
    q_base_kvar: float | None = None,
    new: bool = False,
) -> DsoEndpoint:
    """Create or change the registered interface of the DSO at `bus`: where its DMS listens, its
    identical feeders and base demand per feeder. A changed count or base forgets the range last
    reported, which was counted or measured otherwise. ``new``: refuse a bus already registered
    instead of changing its interface (adding is not editing)."""
    check_endpoint(bus, name, host, port, address)
    count = check_interface(bus, feeder_count, (p_base_kw, q_base_kvar))
    check_unique(bus, name, new=new)
    endpoint = DsoEndpoint.objects.select_for_update().filter(bus=bus).first()
    if new and endpoint is not None:  # registered since check_unique
        raise _taken(endpoint)
    before = _endpoint_doc(endpoint) if endpoint else None
    endpoint = endpoint or DsoEndpoint(bus=bus)
    if (endpoint.feeder_count, endpoint.q_base_kvar) != (count, q_base_kvar):
        endpoint.q_min_kvar = endpoint.q_max_kvar = endpoint.range_reported_at = None
        endpoint.range_q_base_kvar = None
    endpoint.name, endpoint.host, endpoint.port = name.strip(), host, port
    endpoint.address, endpoint.tls = address, tls
    endpoint.feeder_count, endpoint.p_base_kw, endpoint.q_base_kvar = count, p_base_kw, q_base_kvar
    try:
        endpoint.save()
    except IntegrityError:  # someone registered this bus or name since the checks above
        raise EndpointError(
            f"Bus {bus} or the name {name!r} was registered meanwhile; reload and retry."
        ) from None
    audit.record(actor, source, "ems.dso_endpoint", endpoint, before=before, after=_endpoint_doc(endpoint))
    publish_on_commit("cycle", "ems.dso_endpoint", {"bus": bus, "name": endpoint.name})
    return endpoint


def check_unique(bus: int, name: str, *, new: bool) -> None:
    """EndpointError when another bus's interface has this name, or (``new``) the bus has one."""
    clash = DsoEndpoint.objects.filter(name=name.strip()).exclude(bus=bus).first()
    if clash is not None:
        raise EndpointError(f"The name {name!r} is already used by the DSO at bus {clash.bus}.", "name")
    existing = DsoEndpoint.objects.filter(bus=bus).first() if new else None
    if existing is not None:
        raise _taken(existing)


def _taken(endpoint: DsoEndpoint) -> EndpointError:
    return EndpointError(
        f"Bus {endpoint.bus} already has a DSO interface, {endpoint.name}; edit that one instead.", "bus"
    )


@transaction.atomic
def do_delete_dso_endpoint(actor: Actor, source: str, bus: int) -> None:
    """Forget the registered interface of the DSO at `bus`. Stored runs keep their messages to it;
    they cannot be sent any more, and a new run treats the bus as a study."""
    endpoint = DsoEndpoint.objects.select_for_update().filter(bus=bus).first()
    if endpoint is None:
        raise EndpointError(f"No DSO interface is registered at bus {bus}.", "bus")
    audit.record(actor, source, "ems.dso_endpoint_delete", endpoint, before=_endpoint_doc(endpoint))
    endpoint.delete()
    publish_on_commit("cycle", "ems.dso_endpoint", {"bus": bus, "name": "", "deleted": True})


def _endpoint_doc(e: DsoEndpoint) -> dict[str, object]:
    return {
        "bus": e.bus,
        "name": e.name,
        "host": e.host,
        "port": e.port,
        "address": e.address,
        "tls": e.tls,
        "feeder_count": e.feeder_count,
        "p_base_kw": e.p_base_kw,
        "q_base_kvar": e.q_base_kvar,
    }


def _when(t_s: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(t_s, tz=dt.UTC) if t_s is not None else None


DMS_VIEW = (
    "dms_feeder_count",
    "dms_q_received_kvar",
    "dms_q_received_per_feeder_kvar",
    "dms_q_achieved_kvar",
    "dms_q_shortfall_kvar",
    "dms_shortfall_cause",
    "dms_violations_left",
)


@transaction.atomic
def do_record_dso_exchange(actor: Actor, source: str, message_id: int, result: Exchange) -> DsoMessage:
    """Store what came of sending one DsoMessage: when the DMS confirmed it, why it was not, and the
    DMS's answer (achieved Q, next interval's capability, health) in the message's own frame, beside
    the DMS's own view (its feeder count, the request as taken, shortfall, violations left). Checks
    the answer against the registered interface: alarms a feeder-count mismatch or a request not
    met (cleared by a later answer without them), and keeps a healthy answer's range as the
    interface's last reported one."""
    message = DsoMessage.objects.select_for_update().filter(pk=message_id).first()
    if message is None:
        raise LinkError(f"There is no EMS→DMS message {message_id}.")
    message.sent_at = _when(result.sent_t_s)
    message.send_error = result.error[:300]
    message.answered_at = _when(result.answered_t_s)
    message.q_achieved_kvar = result.q_achieved_kvar
    message.q_min_next_kvar = result.q_min_next_kvar
    message.q_max_next_kvar = result.q_max_next_kvar
    message.dms_healthy = result.dms_healthy
    message.fallback_active = result.fallback_active
    for field in DMS_VIEW:
        setattr(message, field, getattr(result, field))
    message.dms_shortfall_cause = message.dms_shortfall_cause[:40]
    message.save()
    after = {
        "bus": message.bus,
        "sent": message.sent_at is not None,
        "error": message.send_error,
        "q_achieved_kvar": message.q_achieved_kvar,
        "q_min_next_kvar": message.q_min_next_kvar,
        "q_max_next_kvar": message.q_max_next_kvar,
        "dms_healthy": message.dms_healthy,
        "fallback_active": message.fallback_active,
        **{field: getattr(message, field) for field in DMS_VIEW},
    }
    audit.record(actor, source, "ems.dso_exchange", message, after=after)
    _link_alarms(actor, source, message, result)
    if message.answered_at is not None:
        _check_answer(actor, source, message, result)
    publish_on_commit("cycle", "ems.dso_answer", {"id": message.pk, "run": message.run_id, **after})
    return message


def _link_alarms(actor: Actor, source: str, message: DsoMessage, result: Exchange) -> None:
    """The link itself (seed 000 §4.2): no connection to the DMS, a DMS that took the request but
    did not answer in time, a DMS that says it is in fallback. Each clears with the next exchange
    without it; meanwhile the EMS solves with the DSO's last reported range."""
    endpoint = DsoEndpoint.objects.filter(bus=message.bus).first()
    label = f"DSO {endpoint.name} at bus {message.bus}" if endpoint else f"DSO at bus {message.bus}"
    down = message.sent_at is None and bool(result.error) and "refused" not in result.error
    silent = message.sent_at is not None and message.answered_at is None
    fallback = message.answered_at is not None and bool(message.fallback_active)
    note = f"OPF run {message.run_id}, message {message.pk}"
    last = "the EMS uses its last reported range"
    cause = message.dms_shortfall_cause or "no dispatch"
    silent_text = f"{label} took the request but did not answer: {result.error}; {last}."
    fallback_text = f"{label} is in fallback: it holds its previous set points ({cause})."
    checks = (
        (Alarm.Kind.LINK_DOWN, down, f"{label}: {result.error}; {last}.", message.bus),
        (Alarm.Kind.DMS_SILENT, silent, silent_text, message.bus),
        (Alarm.Kind.FALLBACK, fallback, fallback_text, f"{message.bus}:dms"),
    )
    for kind, raised, text, sid in checks:
        if raised:
            do_raise_alarm(actor, source, kind=kind, source_type="dso", source_id=sid, message=text[:300],
                           source_label=label[:120])  # fmt: skip
        else:
            do_clear_alarm(actor, source, kind=kind, source_type="dso", source_id=sid, note=note)


def _check_answer(actor: Actor, source: str, message: DsoMessage, result: Exchange) -> None:
    endpoint = DsoEndpoint.objects.select_for_update().filter(bus=message.bus).first()
    registered = endpoint.feeder_count if endpoint is not None else message.count
    label = f"{endpoint.name} at bus {message.bus}" if endpoint is not None else f"at bus {message.bus}"
    found = assess(
        result, label, registered_count=registered, ems_count=message.count,
        share=settings.CREST_SHORTFALL_ALARM_SHARE,
    )  # fmt: skip
    note = f"answer to OPF run {message.run_id}, message {message.pk}"
    for kind, text in (
        (Alarm.Kind.DSO_MISMATCH, found.mismatch),
        (Alarm.Kind.DSO_SHORTFALL, found.shortfall),
        (Alarm.Kind.VIOLATION, found.violations),
    ):
        if text:
            do_raise_alarm(
                actor, source, kind=kind, source_type="dso", source_id=message.bus, message=text,
                source_label=f"DSO {label}",
            )  # fmt: skip
        else:
            do_clear_alarm(actor, source, kind=kind, source_type="dso", source_id=message.bus, note=note)
    agreed = not found.mismatch and result.dms_feeder_count is not None
    if endpoint is not None and agreed and result.dms_healthy and result.q_min_next_kvar is not None:
        _keep_range(endpoint, message, result)


def _keep_range(endpoint: DsoEndpoint, message: DsoMessage, result: Exchange) -> None:
    """The answer's range as the interface's last reported one, measured from the registered base
    (the message's is the base the run used; they differ when the line gave its own)."""
    assert result.q_min_next_kvar is not None and result.q_max_next_kvar is not None
    shift = 0.0
    if endpoint.q_base_kvar is not None and message.q_base_kvar is not None:
        shift = endpoint.q_base_kvar - message.q_base_kvar
    endpoint.q_min_kvar = result.q_min_next_kvar + shift
    endpoint.q_max_kvar = result.q_max_next_kvar + shift
    endpoint.range_reported_at = message.answered_at
    endpoint.range_q_base_kvar = (
        endpoint.q_base_kvar if endpoint.q_base_kvar is not None else message.q_base_kvar
    )
    endpoint.save(update_fields=["q_min_kvar", "q_max_kvar", "range_reported_at", "range_q_base_kvar"])


@transaction.atomic
def do_request_send(actor: Actor, source: str, run_id: int) -> OpfRun:
    """Queue the sending of a run's unanswered messages to their DSOs (Celery `crest.ems.send_run`).
    LinkError with the reason, queueing nothing, when nothing is sendable or a send is under way."""
    run = OpfRun.objects.filter(pk=run_id).first()
    if run is None:
        raise LinkError(f"There is no OPF run {run_id}.")
    plan = sendable(run)
    linked = plan.linked
    check_tls(linked, configured_tls_dir(), "set CREST_EMS_TLS_DIR on the workers")
    if marked("sending", run.pk) or not mark("requested", run.pk):
        raise LinkError(f"OPF run {run.pk} is being sent to its DSOs already; wait for the answers.")
    buses = [m.bus for m, _ in linked]
    after = {"buses": buses, "no_endpoint": plan.no_endpoint, "count_mismatch": plan.mismatched}
    audit.record(actor, source, "ems.send_request", run, after=after)
    publish_on_commit("cycle", "ems.send_requested", {"run": run.pk, "buses": buses})
    user_id = actor.pk if actor is not None and actor.is_authenticated else None
    enqueue_on_commit(task_names.EMS_SEND_RUN, run.pk, user_id)
    return run
