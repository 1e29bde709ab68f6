"""State changes of the DMS app (feeders). Each do_* owns its transaction and audit record."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from apps.dms.models import Bus, DispatchRun, Feeder, FeederVersion
from apps.standards.ansi import V_MAX_PU, V_MIN_PU
from apps.standards.timing import INTERVAL_S
from crest_web import task_names
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit
from crest_web.task_queue import enqueue_on_commit


class FeederError(ValueError):
    """A feeder request the DMS refuses; the message says why in plain words."""


@transaction.atomic
def do_add_feeder_version(
    actor: Actor,
    source: str,
    network: Network,
    *,
    source_name: str,
    source_text: str = "",
    description: str = "",
) -> FeederVersion:
    """Store `network` as the next version of the feeder of its name (created on first import)."""
    name = network.name
    feeder, created = Feeder.objects.get_or_create(name=name, defaults={"description": description})
    last = feeder.current_version()
    distances = network.bus_distances_km()
    version = FeederVersion.objects.create(
        feeder=feeder,
        number=(last.number + 1) if last else 1,
        source_name=source_name,
        source_sha256=hashlib.sha256(source_text.encode()).hexdigest() if source_text else "",
        created_by=actor if actor is not None and actor.is_authenticated else None,
        model=network.to_dict(),
        summary=_summary(network),
    )
    Bus.objects.bulk_create(
        Bus(
            version=version,
            name=b.name,
            phases=list(b.phases),
            base_kv=b.base_kv_ln,
            x=b.x,
            y=b.y,
            distance_km=distances.get(b.name),
        )
        for b in network.buses
    )
    audit.record(
        actor,
        source,
        "feeder.import" if created else "feeder.reimport",
        feeder,
        after={"version": version.number, "buses": len(network.buses), "source": source_name},
    )
    publish_on_commit("registry", "feeder.imported", {"name": name, "version": version.number})
    return version


def _summary(net: Network) -> dict[str, int]:
    return {
        "buses": len(net.buses),
        "node_phases": len(net.node_keys()),
        "lines": len(net.lines),
        "transformers": len(net.transformers),
        "loads": len(net.loads),
        "capacitors": len(net.capacitors),
        "shunt_reactors": len(net.shunt_reactors),
        "generators": len(net.generators),
    }


def do_import_feeder(
    actor: Actor,
    source: str,
    master: Path,
    name: str,
    description: str = "",
    *,
    upload_root: Path | None = None,
) -> FeederVersion:
    """Read an OpenDSS feeder (compiled and solved) and store it as a new version of `name`.

    An upload passes `upload_root`, the folder it was unpacked into: its scripts may read only files
    in there (docs/security.md). Nothing is stored when the model cannot be read; FeederError says why."""
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name != name.lower():
        raise FeederError(f"The feeder name {name!r} must be lower-case letters, digits, '-' or '_'.")
    try:
        network = read_network(master, name, upload_root=upload_root)
    except FeederImportError as exc:
        raise FeederError(str(exc)) from exc
    text = master.read_text(errors="replace") if master.is_file() else ""
    return do_add_feeder_version(
        actor, source, network, source_name=master.name, source_text=text, description=description
    )


# --- dispatch (seed 000 §3.1.2) ----------------------------------------------------------------------


class DispatchError(ValueError):
    """A dispatch request refused; the message says why in plain words."""


def _checked_request(q_kvar: object, v_sub_pu: object, pv_curtailment_kw: object, dr_kw: object) -> Any:
    from apps.dms.engine.dispatch_types import DispatchInputError, DispatchRequest, check_request

    try:
        numbers = [float(x) for x in (q_kvar, v_sub_pu, pv_curtailment_kw, dr_kw)]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DispatchError(
            "The request needs numbers for Q, substation voltage, curtailment and DR."
        ) from None
    request = DispatchRequest(*numbers)
    try:
        check_request(request)
    except DispatchInputError as exc:
        raise DispatchError(str(exc)) from exc
    return request


@transaction.atomic
def do_request_dispatch(
    actor: Actor,
    source: str,
    feeder_name: str,
    *,
    q_kvar: object,
    v_sub_pu: object,
    pv_curtailment_kw: object = 0.0,
    dr_kw: object = 0.0,
    trigger: str = "manual",
    reason: str = "",
    enqueue: bool = True,
    ems_request_id: int | None = None,
    reoptimizes_id: int | None = None,
    left_out: list[str] | None = None,
    approval_deadline: dt.datetime | None = None,
    interval_s: float = INTERVAL_S,
) -> DispatchRun:
    """Queue a dispatch of an EMS (or operator) request on a feeder; nothing is stored when the feeder
    is unknown, has no model or no active DERs, or the request is not a sensible one."""
    from apps.der_registry.engine.lifecycle import Status as DerStatus
    from apps.der_registry.models import DER

    feeder = Feeder.objects.filter(name=feeder_name).first()
    if feeder is None:
        raise DispatchError(f"There is no feeder named {feeder_name!r}.")
    version = feeder.current_version()
    if version is None or not version.model:
        raise DispatchError(f"Feeder {feeder_name} has no network model yet; import it first.")
    request = _checked_request(q_kvar, v_sub_pu, pv_curtailment_kw, dr_kw)
    if trigger not in DispatchRun.Trigger.values:
        raise DispatchError(f"Unknown dispatch trigger {trigger!r}.")
    if not DER.objects.filter(feeder=feeder, status=DerStatus.ACTIVE).exists():
        raise DispatchError(f"Feeder {feeder_name} has no active DERs to dispatch.")
    run = DispatchRun.objects.create(
        feeder=feeder,
        ems_request_id=ems_request_id,
        reoptimizes_id=reoptimizes_id,
        left_out=sorted(left_out or []),
        approval_deadline=approval_deadline,
        feeder_version=version,
        trigger=trigger,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        reason=reason[:200],
        q_requested_kvar=request.q_kvar,
        v_sub_pu=request.v_sub_pu,
        pv_curtailment_kw=request.pv_curtailment_kw,
        dr_kw=request.dr_kw,
        interval_s=interval_s,
    )
    audit.record(
        actor,
        source,
        "dispatch.request",
        run,
        after={
            "feeder": feeder_name,
            "trigger": trigger,
            **request.__dict__,
            **({"reoptimizes": reoptimizes_id, "left_out": run.left_out} if reoptimizes_id else {}),
        },
    )
    _publish_run(run)
    if enqueue:
        enqueue_on_commit(task_names.DISPATCH_RUN, run.pk)
    return run


@transaction.atomic
def do_start_dispatch(run_id: int, worker: str) -> bool:
    """Mark a queued run running (under the feeder lock); False for a run already taken."""
    run = DispatchRun.objects.select_for_update().get(pk=run_id)
    if run.status != DispatchRun.Status.QUEUED:
        return False
    run.status, run.worker, run.locked_at = DispatchRun.Status.RUNNING, worker[:120], timezone.now()
    run.save(update_fields=["status", "worker", "locked_at"])
    _publish_run(run)
    return True


@transaction.atomic
def do_finish_dispatch(
    run_id: int, doc: dict[str, Any], der_ids: dict[str, int], compute_s: float
) -> DispatchRun:
    """Store the outcome and issue its set points to the registry (active–reactive power mode). A set
    point the registry refuses leaves that DER's previous one untouched and is listed as not issued;
    the run is then marked partial: its achieved Q assumes set points that were not all sent. A run
    with an approval deadline (manual mode) issues nothing yet: it waits for an operator."""
    run = DispatchRun.objects.select_for_update().get(pk=run_id)
    held = run.approval_deadline is not None
    if held:
        doc["der_ids"] = der_ids  # for the approval
    else:
        _issue(run, doc, der_ids)
    run.status = DispatchRun.Status.HELD if held else DispatchRun.Status.DONE
    run.result, run.compute_s = doc, compute_s
    run.q_achieved_kvar, run.stage2_ran = doc.get("q_achieved_kvar"), bool(doc.get("stage2_ran"))
    run.violations_left = int(doc.get("violations_after") or 0)
    run.finished_at = timezone.now()
    run.save()
    audit.record(
        None,
        "worker",
        "dispatch.hold" if held else "dispatch.finish",
        run,
        after={
            "q_achieved_kvar": run.q_achieved_kvar,
            "stage2": run.stage2_ran,
            "violations_left": run.violations_left,
            "not_issued": len(doc.get("not_issued", [])),
            "partial": bool(doc.get("partial")),
        },
    )
    _publish_run(run)
    _violation_alarm(run, doc)
    return run


def _violation_alarm(run: DispatchRun, doc: dict[str, Any]) -> None:
    """Voltages a dispatch leaves outside their limits raise an alarm on the feeder (an EMS request's
    answer raises the EMS's own, on the DSO: one is enough); a run that leaves none clears it."""
    from apps.alarms.actions import do_clear_alarm, do_raise_alarm

    where = {"kind": "violation", "source_type": "feeder", "source_id": run.feeder.name}
    if not run.violations_left:
        do_clear_alarm(None, "worker", note=f"dispatch run {run.pk} left no violation", **where)
    elif run.trigger != DispatchRun.Trigger.EMS:
        low, high = float(doc.get("v_min_pu_after") or V_MIN_PU), float(doc.get("v_max_pu_after") or V_MAX_PU)
        text = (
            f"Dispatch run {run.pk} of {run.feeder.name} left {run.violations_left} node-phases outside "
            f"{V_MIN_PU}–{V_MAX_PU} pu (voltages {low:.4f}–{high:.4f} pu, "
            f"{max(high - V_MAX_PU, V_MIN_PU - low):.3f} pu beyond the band at worst)."
        )
        do_raise_alarm(None, "worker", source_label=f"feeder {run.feeder.name}", message=text, **where)


def _issue(run: DispatchRun, doc: dict[str, Any], der_ids: dict[str, int]) -> None:
    from apps.der_registry.actions import RegistryError, do_issue_setpoint

    refused = []
    for sp in doc.get("setpoints", []):
        try:
            do_issue_setpoint(
                None,
                "dispatch",
                der_ids[sp["name"]],
                control_mode="active_reactive",
                p_limit_kw=sp["p_limit_kw"],
                q_kvar=sp["q_kvar"],
                setpoint_source="dms_dispatch",
                dispatch_run_id=run.pk,
            )
        except RegistryError as exc:
            refused.append({"name": sp["name"], "reason": str(exc)})
    doc["not_issued"], doc["partial"] = refused, bool(refused)


@transaction.atomic
def do_set_dispatch_mode(actor: Actor, source: str, feeder_name: str, mode: str) -> Feeder:
    """How the DMS takes the EMS's requests for the feeder (automatic, manual, disabled)."""
    if mode not in Feeder.Mode.values:
        raise DispatchError(
            f"The dispatch mode must be one of {', '.join(Feeder.Mode.values)}, not {mode!r}."
        )
    feeder = Feeder.objects.select_for_update().filter(name=feeder_name).first()
    if feeder is None:
        raise DispatchError(f"There is no feeder named {feeder_name!r}.")
    before, feeder.dispatch_mode = feeder.dispatch_mode, mode
    feeder.save(update_fields=["dispatch_mode"])
    audit.record(actor, source, "feeder.dispatch_mode", feeder, before={"mode": before}, after={"mode": mode})
    return feeder


def do_approve_dispatch(actor: Actor, source: str, run_id: int) -> DispatchRun:
    """An operator lets a held run's set points go out; DispatchError (nothing sent) when the run is
    not awaiting approval or its deadline has passed — then it is closed as not approved."""
    run, late = _approve(actor, source, run_id)
    if late:
        assert run.approval_deadline is not None
        raise DispatchError(
            f"Too late: the approval window of dispatch {run.pk} closed at "
            f"{run.approval_deadline:%H:%M:%S} UTC. Nothing was sent; feeder {run.feeder.name} holds "
            "its previous set points."
        )
    return run


@transaction.atomic
def _approve(actor: Actor, source: str, run_id: int) -> tuple[DispatchRun, bool]:
    run = DispatchRun.objects.select_for_update().select_related("feeder").filter(pk=run_id).first()
    if run is None:
        raise DispatchError(f"There is no dispatch run {run_id}.")
    if run.status == DispatchRun.Status.EXPIRED:
        return run, True
    if run.status != DispatchRun.Status.HELD:
        raise DispatchError(
            f"Dispatch {run.pk} is not awaiting approval ({run.get_status_display().lower()})."
        )
    assert run.approval_deadline is not None
    if timezone.now() > run.approval_deadline:
        _expire(run, actor, source)
        return run, True
    doc = dict(run.result)
    _issue(run, doc, doc.pop("der_ids", {}))
    user = actor if actor is not None and actor.is_authenticated else None
    run.status, run.result, run.approved_by, run.approved_at = (
        DispatchRun.Status.DONE,
        doc,
        user,
        timezone.now(),
    )
    run.save(update_fields=["status", "result", "approved_by", "approved_at"])
    audit.record(actor, source, "dispatch.approve", run, after={"set_points": len(doc.get("setpoints", []))})
    _publish_run(run)
    return run, False


@transaction.atomic
def do_expire_dispatch(run_id: int) -> DispatchRun:
    """A held run whose approval window closed: nothing is sent (the DMS's own clock)."""
    run = DispatchRun.objects.select_for_update().get(pk=run_id)
    if run.status == DispatchRun.Status.HELD:
        _expire(run, None, "dms")
    return run


def _expire(run: DispatchRun, actor: Actor, source: str) -> None:
    run.status = DispatchRun.Status.EXPIRED
    run.save(update_fields=["status"])
    audit.record(actor, source, "dispatch.expire", run, after={"deadline": str(run.approval_deadline)})
    _publish_run(run)


@transaction.atomic
def do_record_delivery(run_id: int, delivery: dict[str, Any]) -> DispatchRun:
    """What the DERs made of a run's set points when the DMS stopped waiting (apps/dms/delivery.py):
    stored beside the run's result, audited, shown live."""
    run = DispatchRun.objects.select_for_update().get(pk=run_id)
    run.result = {**run.result, "delivery": delivery}
    run.save(update_fields=["result"])
    audit.record(
        None,
        "dms",
        "dispatch.delivery",
        run,
        after={k: delivery[k] for k in ("confirmed", "failed", "unconfirmed") if k in delivery},
    )
    _publish_run(run)
    return run


@transaction.atomic
def do_fail_dispatch(run_id: int, error: str) -> DispatchRun:
    """A run that could not be dispatched: the reason is stored, no set point is touched. A run that
    ended meanwhile stays as it ended."""
    run = DispatchRun.objects.select_for_update().get(pk=run_id)
    if run.status not in (DispatchRun.Status.QUEUED, DispatchRun.Status.RUNNING):
        return run
    run.status, run.error, run.finished_at = DispatchRun.Status.FAILED, error[:500], timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    audit.record(None, "worker", "dispatch.fail", run, after={"error": run.error})
    _publish_run(run)
    return run


def _publish_run(run: DispatchRun) -> None:
    payload = {
        "id": run.pk,
        "feeder": run.feeder.name,
        "status": run.status,
        "label": run.status_label(),  # "Done — 8 voltage violations left"
        "trigger": run.trigger,
    }
    publish_on_commit("cycle", "dispatch.run", payload)
