"""Admins edit each DSO's registered interface — where the EMS reaches its DMS, its feeder count and
base demand; saves go through the audited action. The range it last reported is shown, not edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpRequest

from apps.ems.actions import LinkError, check_endpoint, check_interface, do_save_dso_endpoint
from apps.ems.models import DsoEndpoint


class DsoEndpointForm(ModelForm):
    class Meta:
        model = DsoEndpoint
        fields = ["bus", "name", "host", "port", "address", "tls", "feeder_count", "p_base_kw", "q_base_kvar"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        bus = data.get("bus", self.instance.bus)
        if not self.errors:
            try:
                check_endpoint(bus, data["name"], data["host"], data["port"], data["address"])
                check_interface(bus, data["feeder_count"], (data.get("p_base_kw"), data.get("q_base_kvar")))
            except LinkError as exc:
                raise ValidationError(str(exc)) from exc
        return data


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
    )
    REPORTED = ("q_min_kvar", "q_max_kvar", "range_reported_at")  # the DSO's answers set these

    def get_readonly_fields(self, request: HttpRequest, obj: DsoEndpoint | None = None) -> tuple[str, ...]:
        return ("bus", *self.REPORTED) if obj is not None else self.REPORTED  # the bus is its identity

    def save_model(self, request: HttpRequest, obj: DsoEndpoint, form: Any, change: bool) -> None:
        saved = do_save_dso_endpoint(
            request.user,
            "admin",
            bus=obj.bus,
            name=obj.name,
            host=obj.host,
            port=obj.port,
            address=obj.address,
            tls=obj.tls,
            feeder_count=obj.feeder_count,
            p_base_kw=obj.p_base_kw,
            q_base_kvar=obj.q_base_kvar,
        )
        obj.pk = saved.pk
