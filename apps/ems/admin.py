"""Superusers may also edit each DSO's registered interface here (admins by role use the DSO
interfaces page, /ems/dsos/). The same form and the same audited actions as that page; the range
a DSO last reported is shown, not edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.ems.actions import do_delete_dso_endpoint
from apps.ems.forms import DsoEndpointForm
from apps.ems.models import DsoEndpoint


@admin.register(DsoEndpoint)
class DsoEndpointAdmin(admin.ModelAdmin):
    form = DsoEndpointForm
    list_display = (
        "bus",
        "name",
        "host",
        "port",
        "address",
        "tls",
        "feeder_count",
        "q_min_kvar",
        "q_max_kvar",
        "range_reported_at",
    )
    readonly_fields = ("q_min_kvar", "q_max_kvar", "range_reported_at")  # the DSO's answers set these

    def save_model(self, request: HttpRequest, obj: DsoEndpoint, form: Any, change: bool) -> None:
        obj.pk = form.save_through_action(request.user, "admin").pk

    def delete_model(self, request: HttpRequest, obj: DsoEndpoint) -> None:
        do_delete_dso_endpoint(request.user, "admin", obj.bus)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DsoEndpoint]) -> None:
        for bus in queryset.values_list("bus", flat=True):
            do_delete_dso_endpoint(request.user, "admin", bus)
