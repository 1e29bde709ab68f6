"""Enrolment, configuration agreement, lifecycle, replacement and groups of DERs."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.der_registry.actions._common import RegistryError, _name, _publish, _user, effective_room, refuse
from apps.der_registry.adapters import build_context, der_values
from apps.der_registry.engine import ieee1547, mode_settings
from apps.der_registry.engine.ieee1547 import DERRecord, Issue
from apps.der_registry.engine.lifecycle import Status, transition_problem
from apps.der_registry.models import (
    DER,
    DERGroup,
    LifecycleEvent,
)
from apps.dms.models import Feeder
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor


def _check(rec: DERRecord, exclude_ids: tuple[int, ...] = ()) -> list[Issue]:
    issues = ieee1547.validate_der(rec, build_context([rec], exclude_ids))
    if ieee1547.errors(issues):
        raise RegistryError(ieee1547.errors(issues))
    return ieee1547.warnings(issues)


def _apply_compliance(der: DER, warnings: list[Issue]) -> None:
    der.compliance = DER.Compliance.WARNING if warnings else DER.Compliance.OK
    der.compliance_notes = "\n".join(w.message for w in warnings)


def _set_groups(der: DER, rec: DERRecord, extra_groups: list[str] | None) -> None:
    names = set(extra_groups or [])
    if rec.aggregator:
        names.add(rec.aggregator)
    der.groups.set(DERGroup.objects.filter(name__in=names))


def new_der(rec: DERRecord, warnings: list[Issue], feeder: Feeder) -> DER:
    der = DER(**der_values(rec, feeder), status=Status.PENDING)
    _apply_compliance(der, warnings)
    return der


def _enrolled_from(feeder: str, element: str) -> DER | None:
    """The live DER enrolled from the feeder file's `element` of `feeder`, if any."""
    found = DER.objects.filter(feeder__name=feeder, feeder_element=element)
    return found.exclude(status=Status.DECOMMISSIONED).first()


@transaction.atomic
def do_enroll_der(
    actor: Actor,
    source: str,
    rec: DERRecord,
    groups: list[str] | None = None,
    replaces: DER | None = None,
    feeder_element: str = "",
) -> DER:
    """Enrol a DER as pending. `feeder_element`: the feeder file's element ("<class>.<name>") it is
    enrolled from, which the caller has found at the record's location; one live DER per element."""
    if feeder_element:  # two operators enrolling one element: the second waits here, then is refused
        Feeder.objects.select_for_update().filter(name=rec.feeder).first()
    if feeder_element and (other := _enrolled_from(rec.feeder, feeder_element)) is not None:
        raise refuse(
            "feeder_element",
            f"{feeder_element} of feeder {rec.feeder} is already enrolled as {other.name} ({other.status}); "
            "an element is enrolled once.",
        )
    rec = ieee1547.complete_identity(rec)
    warnings = _check(rec)
    der = new_der(rec, warnings, Feeder.objects.get(name=rec.feeder))
    der.replaces = replaces
    der.feeder_element = feeder_element
    der.save()
    _set_groups(der, rec, groups)
    LifecycleEvent.objects.create(
        der=der,
        from_status="",
        to_status=Status.PENDING,
        by=_user(actor),
        by_name=_name(actor),
        reason="enrolled",
    )
    audit.record(actor, source, "der.enroll", der, after=audit.snapshot(der))
    _publish(der, "der.enrolled")
    return der


@transaction.atomic
def do_update_der(
    actor: Actor, source: str, der_id: int, rec: DERRecord, groups: list[str] | None = None
) -> DER:
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status == Status.DECOMMISSIONED:
        raise refuse("status", "A decommissioned DER cannot be edited.")
    if der.feeder_element and _location(rec) != _place(der):
        raise refuse(
            "bus",
            f"{der.name} was enrolled from {der.feeder_element} of the feeder file, at bus {der.bus} "
            f"phase(s) {der.phases_text} of {der.feeder.name}: it stays there. Enrol a device elsewhere "
            "as a new DER.",
        )
    before = audit.snapshot(der)
    rec = ieee1547.complete_identity(rec)
    warnings = _check(rec, (der.pk,))
    for key, value in der_values(rec, Feeder.objects.get(name=rec.feeder)).items():
        setattr(der, key, value)
    if der.configuration() != _ratings_from_snapshot(before):
        # A changed configuration is a new proposal: both parties must agree to it again.
        der.cfg_operator_agreed = der.cfg_utility_agreed = False
        der.cfg_agreed_at = None
    _apply_compliance(der, warnings)
    if der.default_mode and (problem := _default_mode_problem(der, der.default_mode, der.mode_params)):
        raise refuse(
            "supported_modes" if der.default_mode not in der.supported_modes else "default_mode",
            f"This change does not fit {der.name}'s default mode ({ieee1547.mode_label(der.default_mode)}): "
            f"{problem} Change the default mode first.",
        )
    der.save()
    _set_groups(der, rec, groups)
    after = audit.snapshot(der)
    audit.record(actor, source, "der.update", der, before=before, after=after)
    _publish(der, "der.updated")
    return der


def _location(rec: DERRecord) -> tuple[str, str, tuple[int, ...]]:
    return rec.feeder, rec.bus.lower(), tuple(sorted(rec.phases))


def _place(der: DER) -> tuple[str, str, tuple[int, ...]]:
    return der.feeder.name, der.bus, tuple(sorted(der.phases))


def _ratings_from_snapshot(snap: dict[str, Any]) -> ieee1547.Ratings:
    return ieee1547.Ratings(**{k: snap[f"cfg_{k}"] for k in ieee1547.RATING_FIELDS})


@transaction.atomic
def do_agree_configuration(actor: Actor, source: str, der_id: int, party: str) -> DER:
    """Record that the DER operator or the utility agreed to the configured overrides."""
    if party not in ("operator", "utility"):
        raise refuse("party", "The agreeing party must be 'operator' or 'utility'.")
    der = DER.objects.select_for_update().get(pk=der_id)
    if all(v is None for v in vars(der.configuration()).values()):
        raise refuse("configuration", "This DER has no configuration overrides to agree to.")
    before = audit.snapshot(der, ["cfg_operator_agreed", "cfg_utility_agreed"])
    setattr(der, f"cfg_{party}_agreed", True)
    if der.cfg_operator_agreed and der.cfg_utility_agreed:
        der.cfg_agreed_at = timezone.now()
    der.save(update_fields=["cfg_operator_agreed", "cfg_utility_agreed", "cfg_agreed_at", "updated_at"])
    audit.record(
        actor,
        source,
        f"der.config_agreed_{party}",
        der,
        before=before,
        after=audit.snapshot(der, ["cfg_operator_agreed", "cfg_utility_agreed"]),
    )
    _publish(der, "der.updated")
    return der


@transaction.atomic
def do_transition_der(actor: Actor, source: str, der_id: int, target: str, reason: str = "") -> DER:
    der = DER.objects.select_for_update().get(pk=der_id)
    problem = transition_problem(der.status, target, reason)
    if problem:
        raise refuse("status", problem)
    previous = der.status
    der.status = target
    der.save(update_fields=["status", "updated_at"])
    LifecycleEvent.objects.create(
        der=der,
        from_status=previous,
        to_status=target,
        by=_user(actor),
        by_name=_name(actor),
        reason=reason[:300],
    )
    audit.record(
        actor,
        source,
        "der.lifecycle",
        der,
        before={"status": previous},
        after={"status": target},
        reason=reason,
    )
    _publish(der, "der.lifecycle")
    return der


@transaction.atomic
def do_replace_der(actor: Actor, source: str, old_id: int, rec: DERRecord, reason: str = "") -> DER:
    """Enroll a new device in place of an old one; the old one is decommissioned, history kept."""
    old = DER.objects.select_for_update().get(pk=old_id)
    if old.status == Status.DECOMMISSIONED:
        raise refuse("status", f"{old.name} is already decommissioned; enroll the new device.")
    if hasattr(old, "replaced_by"):
        raise refuse("status", f"{old.name} has already been replaced.")
    groups = list(old.groups.values_list("name", flat=True))
    do_transition_der(
        actor,
        source,
        old.pk,
        Status.DECOMMISSIONED,
        f"replaced by {rec.name}" + (f": {reason}" if reason else ""),
    )
    # A new device at the old one's place takes over the feeder file's element it stood for.
    element = old.feeder_element if _location(rec) == _place(old) else ""
    return do_enroll_der(actor, source, rec, groups=groups, replaces=old, feeder_element=element)


@transaction.atomic
def do_create_group(actor: Actor, source: str, name: str, kind: str, description: str = "") -> DERGroup:
    if kind not in DERGroup.Kind.values:
        raise refuse("kind", "A group is an aggregator or a microgrid.")
    if DERGroup.objects.filter(name=name).exists():
        raise refuse("name", f"A group named {name!r} already exists.")
    group = DERGroup.objects.create(name=name, kind=kind, description=description)
    audit.record(actor, source, "dergroup.create", group, after=audit.snapshot(group))
    return group


@transaction.atomic
def do_set_group_lfdi(actor: Actor, source: str, name: str, lfdi: str) -> DERGroup:
    """An aggregator's own 2030.5 identity (its certificate's LFDI; empty: none): the server
    then lets that client register and manage the group's DERs."""
    lfdi = lfdi.strip().upper()
    group = DERGroup.objects.select_for_update().filter(name=name).first()
    if group is None:
        raise refuse("name", f"There is no group named {name!r}.")
    if lfdi and group.kind != DERGroup.Kind.AGGREGATOR:
        raise refuse("lfdi", f"{name} is a {group.kind}; only an aggregator talks 2030.5 as one client.")
    if lfdi and (len(lfdi) != 40 or any(c not in "0123456789ABCDEF" for c in lfdi)):
        raise refuse(
            "lfdi", "An LFDI is 40 hexadecimal digits (its certificate's fingerprint, first 160 bits)."
        )
    if lfdi and (
        DERGroup.objects.filter(lfdi=lfdi).exclude(pk=group.pk).exists()
        or DER.objects.filter(lfdi=lfdi).exclude(status=Status.DECOMMISSIONED).exists()
    ):
        raise refuse("lfdi", "This LFDI already belongs to another DER or group.")
    if group.lfdi != lfdi:
        before = audit.snapshot(group)
        group.lfdi = lfdi
        group.save(update_fields=["lfdi"])
        audit.record(actor, source, "dergroup.update", group, before=before, after=audit.snapshot(group))
    return group


@transaction.atomic
def do_set_default_mode(actor: Actor, source: str, der_id: int, mode: str, params: Any) -> DER:
    """Set what the DER does while no set point is in force: a mode it supports and that mode's
    settings (`engine/mode_settings.py`), or "" for none. 2030.5 devices read it as their
    DefaultDERControl at their next poll."""
    der = DER.objects.select_for_update().get(pk=der_id)
    if der.status == Status.DECOMMISSIONED:
        raise refuse("der", f"{der.name} is decommissioned; its settings are kept as they were.")
    if problem := _default_mode_problem(der, mode, params):
        raise refuse("default_mode" if mode and mode not in der.supported_modes else "mode_params", problem)
    before = audit.snapshot(der, ["default_mode", "mode_params"])
    der.default_mode = mode
    der.mode_params = mode_settings.normalised(params)
    der.save(update_fields=["default_mode", "mode_params", "updated_at"])
    audit.record(
        actor,
        source,
        "der.default_mode",
        der,
        before=before,
        after=audit.snapshot(der, ["default_mode", "mode_params"]),
    )
    _publish(der, "der.updated")
    return der


def _default_mode_problem(der: DER, mode: str, params: Any) -> str:
    """Why `mode` ("": none) with `params` cannot be this DER's default, judged on its effective
    ratings; ""."""
    if mode and mode not in der.supported_modes:
        return f"{der.name} does not support the {ieee1547.mode_label(mode)} mode."
    return mode_settings.problem(mode, params, effective_room(der))
