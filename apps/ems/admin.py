"""Admins edit where the EMS reaches each DSO; saves go through the audited action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpRequest

from apps.ems.actions import LinkError, check_endpoint, do_save_dso_endpoint
from apps.ems.models import DsoEndpoint


class DsoEndpointForm(ModelForm):
    class Meta:
        model = DsoEndpoint
        fields = ["bus", "name", "host", "port", "address", "tls"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        bus = data.get("bus", self.instance.bus)
        if not self.errors:
            try:
                check_endpoint(bus, data["name"], data["host"], data["port"], data["address"])
            except LinkError as exc:
                raise ValidationError(str(exc)) from exc
        return data


@admin.register(DsoEndpoint)
class DsoEndpointAdmin(admin.ModelAdmin):
    form = DsoEndpointForm
    list_display = ("bus", "name", "host", "port", "address", "tls")

    def get_readonly_fields(self, request: HttpRequest, obj: DsoEndpoint | None = None) -> tuple[str, ...]:
        return ("bus",) if obj is not None else ()  # the bus is an endpoint's identity

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
        )
        obj.pk = saved.pk
