"""The group pages: every DER group with its members and 2030.5 program, and one group's controls —
issued, scheduled, answered, cancelled."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.der_registry import actions
from apps.der_registry.engine.group_controls import DEVICE_PROGRAM_PRIMACY, MAX_DURATION_S
from apps.der_registry.forms import DefaultModeForm
from apps.der_registry.group_api import live_groups, response_counts
from apps.der_registry.group_forms import GroupControlForm, PrimacyForm
from apps.der_registry.models import DER, DERGroup, GroupControl
from apps.der_registry.serializers import group_control_status


def in_force_by_group() -> Counter[int]:
    """How many controls each group has in force now (not cancelled or superseded, within their interval)."""
    now = timezone.now()
    live = GroupControl.objects.filter(
        cancelled_at__isnull=True,
        superseded_at__isnull=True,
        start_at__lte=now,
        start_at__gte=now - dt.timedelta(seconds=MAX_DURATION_S),
    ).only("group_id", "start_at", "duration_s")
    return Counter(c.group_id for c in live if c.end_at > now)


SILENT_SHOWN = 40  # members named as not having answered; more are counted


@permission_required("der_registry.view_dergroup", raise_exception=True)
def group_list(request: HttpRequest) -> HttpResponse:
    groups = list(live_groups().order_by("name"))
    counts = in_force_by_group()
    for group in groups:
        group.n_in_force = counts[group.pk]  # type: ignore[attr-defined]
    context = {"groups": groups, "device_primacy": DEVICE_PROGRAM_PRIMACY}
    return render(request, "der_registry/groups.html", context)


def _page(
    request: HttpRequest,
    group: DERGroup,
    control_form: GroupControlForm | None = None,
    primacy_form: PrimacyForm | None = None,
    status: int = 200,
    default_form: DefaultModeForm | None = None,
) -> HttpResponse:
    counted = live_groups().get(pk=group.pk)
    controls = list(
        GroupControl.objects.filter(group=group)
        .select_related("issued_by")
        .annotate(**response_counts())
        .order_by("-start_at", "-id")[:50]
    )
    for control in controls:
        control.status_text = group_control_status(control)  # type: ignore[attr-defined]
    newest = next((c for c in controls if c.status_text == "active"), None)  # type: ignore[attr-defined]
    context = {
        "newest": newest,
        "silent": _not_answered(group, newest) if newest is not None else [],
        "group": counted,
        "controls": controls,
        "control_form": control_form or GroupControlForm(),
        "primacy_form": primacy_form or PrimacyForm(initial={"primacy": group.primacy}),
        "default_form": default_form or DefaultModeForm(der=group),
        "device_primacy": DEVICE_PROGRAM_PRIMACY,
        "silent_shown": SILENT_SHOWN,
    }
    if request.GET.get("fragment"):  # the live page redraws its controls as devices answer
        return render(request, "der_registry/_group_controls.html", context)
    return render(request, "der_registry/group.html", context, status=status)


def _not_answered(group: DERGroup, control: GroupControl) -> list[DER]:
    """The members a control reaches that have not answered it yet (at most SILENT_SHOWN + 1)."""
    answered = control.responses.values("der_id")
    return list(
        group.reached().exclude(pk__in=answered).order_by("name").only("pk", "name")[: SILENT_SHOWN + 1]
    )


@permission_required("der_registry.view_dergroup", raise_exception=True)
def group_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, get_object_or_404(DERGroup, pk=pk))


@require_POST
@permission_required("der_registry.issue_setpoint", raise_exception=True)
def group_control(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(DERGroup, pk=pk)
    form = GroupControlForm(request.POST)
    if form.is_valid():
        try:
            control = actions.do_issue_group_control(request.user, "web", group.name, form.values())
        except actions.RegistryError as exc:
            form.add_issues(exc.issues)
        else:
            messages.success(
                request,
                f"Control {control.pk} issued to {group.name}; its devices read it at their next poll.",
            )
            return redirect("der_registry:group", pk=pk)
    return _page(request, group, control_form=form, status=400)


@require_POST
@permission_required("der_registry.issue_setpoint", raise_exception=True)
def group_control_cancel(request: HttpRequest, pk: int, control_id: int) -> HttpResponse:
    group = get_object_or_404(DERGroup, pk=pk)
    try:
        actions.do_cancel_group_control(request.user, "web", group.name, control_id)
        messages.success(request, f"Control {control_id} cancelled; its devices see it at their next poll.")
    except actions.RegistryError as exc:
        messages.error(request, exc.issues[0].message)
    return redirect("der_registry:group", pk=pk)


@require_POST
@permission_required("der_registry.change_dergroup", raise_exception=True)
def group_default_mode(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(DERGroup, pk=pk)
    form = DefaultModeForm(request.POST, der=group)
    if form.is_valid():
        try:
            actions.do_set_group_default_mode(request.user, "web", group.name, *form.settings())
        except actions.RegistryError as exc:
            form.add_issues(exc.issues)
        else:
            messages.success(
                request, f"Default of {group.name}'s program set; its devices read it at their next poll."
            )
            return redirect("der_registry:group", pk=pk)
    return _page(request, group, default_form=form, status=400)


@require_POST
@permission_required("der_registry.change_dergroup", raise_exception=True)
def group_primacy(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(DERGroup, pk=pk)
    form = PrimacyForm(request.POST)
    if form.is_valid():
        try:
            actions.do_set_group_primacy(request.user, "web", group.name, form.cleaned_data["primacy"])
        except actions.RegistryError as exc:
            form.add_error("primacy", exc.issues[0].message)
        else:
            messages.success(request, f"Primacy of {group.name} set.")
            return redirect("der_registry:group", pk=pk)
    return _page(request, group, primacy_form=form, status=400)
