"""Group programs: an admin sets a group's primacy; an operator issues and cancels group controls
(one DERControl for every member, `engine/group_controls.py`); members' devices answer them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.der_registry.actions._common import RegistryError, _user, effective_room, refuse
from apps.der_registry.engine import group_controls, ieee1547, mode_settings
from apps.der_registry.engine.setpoint_params import ReactiveRoom, power_factor_problem
from apps.der_registry.models import DER, DERGroup, GroupControl, Sep2Response
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit

# Ratings no DER exceeds: settings refused against these are wrong whatever the members' ratings.
UNBOUNDED = ReactiveRoom(1.0, "a 1 kW rating", 1e9, 1e9)


def _named(members: list[str], shown: int = 3) -> str:
    """The first few members by name, and how many more ("a, b, c and 4 more")."""
    more = len(members) - shown
    return ", ".join(members[:shown]) + (f" and {more} more" if more > 0 else "")


def _group(name: str) -> DERGroup:
    group = DERGroup.objects.select_for_update().filter(name=name).first()
    if group is None:
        raise refuse("group", f"There is no group named {name!r}.")
    return group


def _publish(group: DERGroup, event: str, control: GroupControl | None = None) -> None:
    payload = {"group": group.name, "control": control.pk if control is not None else None}
    publish_on_commit("registry", event, payload)


@transaction.atomic
def do_set_group_primacy(actor: Actor, source: str, name: str, primacy: object) -> DERGroup:
    problem = group_controls.problem_with_primacy(primacy)
    if problem:
        raise refuse("primacy", problem)
    group = _group(name)
    value = int(float(str(primacy)))
    if group.primacy != value:
        before = audit.snapshot(group)
        group.primacy = value
        group.save(update_fields=["primacy"])
        audit.record(actor, source, "dergroup.update", group, before=before, after=audit.snapshot(group))
        _publish(group, "group.primacy")
    return group


@transaction.atomic
def do_set_group_default_mode(actor: Actor, source: str, name: str, mode: str, params: Any) -> DERGroup:
    """Give the group's program a DefaultDERControl (a mode and its settings, as a DER's own default
    mode, `engine/mode_settings.py`), or take it away ("" and no settings). Refused unless every
    member it reaches supports the mode and can hold its settings."""
    group = _group(name)
    field, problem = _group_default_problem(group, mode, params)
    if problem:
        raise refuse(field, problem)
    before = audit.snapshot(group, ["default_mode", "mode_params"])
    group.default_mode = mode
    group.mode_params = mode_settings.normalised(params) if isinstance(params, dict) else {}
    group.default_changed_at = timezone.now()
    group.save(update_fields=["default_mode", "mode_params", "default_changed_at"])
    after = audit.snapshot(group, ["default_mode", "mode_params"])
    audit.record(actor, source, "dergroup.default_mode", group, before=before, after=after)
    _publish(group, "group.default")
    return group


def _group_default_problem(group: DERGroup, mode: str, params: Any) -> tuple[str, str]:
    """(field, why) `mode` with `params` cannot be the default of every member the group's program
    reaches; ("", "") when it can."""
    if problem := mode_settings.problem(mode, params, UNBOUNDED):
        return "mode_params", problem  # wrong whatever the members' ratings
    unfit: list[str] = []
    first = ""
    for der in group.reached().order_by("name"):
        if mode and mode not in der.supported_modes:
            unfit.append(f"{der.name} (no {ieee1547.mode_label(mode).lower()} mode)")
            continue
        if problem := mode_settings.problem(mode, params, effective_room(der)):
            unfit.append(f"{der.name} (its ratings cannot hold it)")
            first = first or f" {der.name}: {problem}"
    if not unfit:
        return "", ""
    return "default_mode", (
        f"Not every member can follow this default: {_named(unfit)}. A group's default is the same for every "
        f"member it reaches.{first}"
    )


@transaction.atomic
def do_issue_group_control(
    actor: Actor, source: str, name: str, values: Mapping[str, object], now: dt.datetime | None = None
) -> GroupControl:
    """Checked in full before anything is stored; its members' devices read it at their next poll."""
    request, issues = group_controls.check(values, now or timezone.now())
    if request is None:
        raise RegistryError(issues)
    group = _group(name)
    if not group.reached().exists():
        raise refuse(
            "group",
            f"No active member of {name} talks IEEE 2030.5, so a group control would reach no device "
            "(DNP3 DERs are sent their set points one by one).",
        )
    if request.target_w_kw is not None and (problem := _target_problem(group, request.target_w_kw)):
        raise refuse("target_w_kw", problem)
    if request.fixed_pf is not None and (problem := _power_factor_problem(group, request.fixed_pf)):
        raise refuse("fixed_pf", problem)
    control = GroupControl.objects.create(
        group=group,
        issued_by=_user(actor),
        description=request.description,
        start_at=request.start_at,
        duration_s=request.duration_s,
        randomize_start_s=request.randomize_start_s,
        randomize_duration_s=request.randomize_duration_s,
        connect=request.connect,
        energize=request.energize,
        max_lim_pct=request.max_lim_pct,
        fixed_var_pct=request.fixed_var_pct,
        ramp_s=request.ramp_s,
        target_w_kw=request.target_w_kw,
        fixed_pf=request.fixed_pf,
    )
    superseded = _supersede(control, request)
    after = {**audit.snapshot(control), "supersedes": superseded}
    audit.record(actor, source, "dergroup.control", group, after=after)
    _publish(group, "group.control", control)
    return control


def _power_factor_problem(group: DERGroup, pf: float) -> str:
    """A power factor every member reached must hold at its rating (its reactive rating that way)."""
    unfit, first = [], ""
    for der in group.reached().order_by("name"):
        if problem := power_factor_problem(pf, effective_room(der)):
            unfit.append(der.name)
            first = first or f" {der.name}: {problem}"
    if not unfit:
        return ""
    return (
        f"A power factor of {pf:g} is asked of every device, but {len(unfit)} of the group's members "
        f"cannot hold it at their rating: {_named(unfit)}.{first}"
    )


def _target_problem(group: DERGroup, target_kw: float) -> str:
    """A P target is the same kW for every device: refused when a member it reaches is rated below
    it (the device could not follow it; a P limit in % suits a fleet of unlike sizes)."""
    below = []
    for der in group.reached().order_by("name"):
        rated_kw = float(der.effective()["active_power_kw"].value or 0.0)
        if rated_kw < target_kw:
            below.append(f"{der.name} ({rated_kw:g} kW)")
    if not below:
        return ""
    return (
        f"A P target of {target_kw:g} kW is asked of every device, but {len(below)} of the group's "
        f"members are rated below it: {_named(below)}. Lower the target, or give a P limit in % of each "
        "device's rating instead."
    )


def _supersede(new: GroupControl, request: group_controls.GroupControlRequest) -> list[int]:
    """The group's controls still to run or running that the new one takes over (ids)."""
    live = GroupControl.objects.select_for_update().filter(
        group_id=new.group_id, cancelled_at__isnull=True, superseded_at__isnull=True
    )
    older = [c for c in live.exclude(pk=new.pk) if group_controls.supersedes(request, c.request())]
    for control in older:
        control.superseded_by, control.superseded_at = new, new.created_at
        control.save(update_fields=["superseded_by", "superseded_at", "changed_at"])
    return [c.pk for c in older]


@transaction.atomic
def do_cancel_group_control(actor: Actor, source: str, name: str, control_id: int) -> GroupControl:
    group = _group(name)
    control = GroupControl.objects.select_for_update().filter(group=group, pk=control_id).first()
    if control is None:
        raise refuse("control", f"{name} has no control {control_id}.")
    if control.cancelled_at is not None:
        raise refuse("control", f"Control {control_id} was already cancelled.")
    if control.superseded_by_id is not None:
        raise refuse(
            "control",
            f"Control {control_id} was superseded by control {control.superseded_by_id}; cancel that one.",
        )
    if control.end_at <= timezone.now():
        raise refuse("control", f"Control {control_id} is already over; there is nothing to cancel.")
    before = audit.snapshot(control)
    control.cancelled_at, control.cancelled_by = timezone.now(), _user(actor)
    control.save(update_fields=["cancelled_at", "cancelled_by", "changed_at"])
    audit.record(
        actor, source, "dergroup.control_cancel", group, before=before, after=audit.snapshot(control)
    )
    _publish(group, "group.control", control)
    return control


@transaction.atomic
def do_record_group_response(
    actor: Actor,
    source: str,
    der_id: int,
    control_id: int,
    subject: str,
    status: int,
    created_at: dt.datetime,
) -> Sep2Response:
    """A member's device answered a group control (received, started, completed, opted out …)."""
    der = DER.objects.get(pk=der_id)
    response = Sep2Response.objects.create(
        der=der, group_control_id=control_id, subject=subject, status=status, created_at=created_at
    )
    audit.record(
        actor, source, "der.sep2_response", der, after={"group_control": control_id, "response": status}
    )
    control = GroupControl.objects.select_related("group").get(pk=control_id)
    _publish(control.group, "group.response", control)
    return response
