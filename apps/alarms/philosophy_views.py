"""Alarm settings (admins): the priority of each kind of alarm and the longest timed shelf — the
site's alarm philosophy, every change audited (apps/alarms/actions.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.alarms.actions import (
    AlarmError,
    do_set_alarm_priority,
    do_set_shelf_limit,
    priority_of,
    shelf_limit_minutes,
)
from apps.alarms.engine import isa182
from apps.alarms.models import Alarm

CONFIGURE = "alarms.configure_alarms"


@permission_required(CONFIGURE, raise_exception=True)
def alarm_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            with transaction.atomic():  # all of the form or none of it
                changed = sum(
                    do_set_alarm_priority(request.user, "web", kind, request.POST.get(f"priority-{kind}", ""))
                    for kind in Alarm.Kind.values
                )
                do_set_shelf_limit(request.user, "web", request.POST.get("shelf_limit_minutes", ""))
        except AlarmError as exc:
            messages.error(request, f"Nothing was changed: {exc}")
        else:
            plural = "s" if changed != 1 else ""
            note = f" {changed} active alarm{plural} took a new priority." if changed else ""
            messages.success(request, f"Alarm settings saved.{note}")
            return redirect("alarms:settings")
    context = {
        "kinds": [(k, label, priority_of(k)) for k, label in Alarm.Kind.choices],
        "priorities": Alarm.Priority.choices,
        "marks": isa182.PRIORITY_MARK,
        "limit": shelf_limit_minutes(),
        "limit_range": isa182.SHELF_LIMIT_RANGE,
    }
    return render(request, "alarms/settings.html", context, status=400 if request.method == "POST" else 200)
