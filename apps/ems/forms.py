"""The form of a DSO's registered interface, shared by the DSO interfaces page and the Django admin:
fields parse, the action's checks (check_endpoint, check_interface) decide, each refusal in words next
to the field it is about. It never saves itself: save_through_action calls do_save_dso_endpoint."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.ems.actions import (
    EndpointError,
    check_endpoint,
    check_interface,
    check_unique,
    do_save_dso_endpoint,
)
from apps.ems.models import DsoEndpoint
from crest_web.accounts.audit import Actor

# What a DSO registers; the range it reports is set by its answers, never by this form.
FIELDS = ["bus", "name", "host", "port", "address", "tls", "feeder_count", "p_base_kw", "q_base_kvar"]


def _whole(label: str, example: int) -> dict[str, str]:
    return {"invalid": f"The {label} must be a whole number, e.g. {example}."}


class DsoEndpointForm(forms.ModelForm):
    # Bounds live in check_endpoint; these fields only read whole numbers and say so in words.
    bus = forms.IntegerField(
        label="Bus",
        help_text="the case's own bus number of the interface; an OPF checks it against its case",
        error_messages={**_whole("bus", 5), "required": "Give the bus of the interface, e.g. 5."},
    )
    name = forms.CharField(
        max_length=60,
        help_text="the DSO's feeder name, as its DMS's --dso-feeder NAME:COUNT",
        error_messages={"required": "A DSO interface needs a name."},
    )
    host = forms.CharField(
        max_length=120,
        help_text="host name or IP address of the DSO's DMS (DNP3 outstation)",
        error_messages={"required": "Give the host name or address where the DSO's DMS listens."},
    )
    port = forms.IntegerField(
        label="TCP port", error_messages={**_whole("port", 20000), "required": "Give the TCP port (1–65535)."}
    )
    address = forms.IntegerField(
        label="DNP3 address",
        initial=10,
        help_text="DNP3 outstation link address",
        error_messages={**_whole("DNP3 address", 10), "required": "Give the DNP3 link address, e.g. 10."},
    )
    # Text, so that check_interface can say what is wrong with "0", "2.5" or "1e30".
    feeder_count = forms.CharField(
        label="Feeders",
        initial="1",
        help_text="identical feeders behind the bus: the DMS's --dso-feeder NAME:COUNT",
        error_messages={"required": "Give the number of identical feeders behind the bus, e.g. 22."},
    )
    p_base_kw = forms.FloatField(
        label="Base P per feeder (kW)", required=False, help_text="empty: a share of the case's load"
    )
    q_base_kvar = forms.FloatField(
        label="Base Q per feeder (kvar)", required=False, help_text="give it with the base P"
    )

    class Meta:
        model = DsoEndpoint
        fields = FIELDS
        labels = {"tls": "DNP3 over TLS"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["bus"].disabled = True  # the bus is the interface's identity

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            check_endpoint(data["bus"], data["name"], data["host"], data["port"], data["address"])
            base = (data.get("p_base_kw"), data.get("q_base_kvar"))
            data["feeder_count"] = check_interface(data["bus"], data["feeder_count"], base)
            check_unique(data["bus"], data["name"], new=self.instance.pk is None)
        except EndpointError as exc:
            show_endpoint_error(self, exc)
        return data

    def validate_unique(self) -> None:
        """Unique bus and name are worded by check_unique in clean(), not by the model."""

    def save_through_action(self, actor: Actor, source: str) -> DsoEndpoint:
        """Store the valid form through the audited action (the admin's save and the page's)."""
        fields = {name: self.cleaned_data[name] for name in FIELDS}
        return do_save_dso_endpoint(actor, source, new=self.instance.pk is None, **fields)


def show_endpoint_error(form: forms.BaseForm, error: EndpointError) -> None:
    """Put an action's refusal next to the field it is about, or above the form."""
    form.add_error(error.field if error.field in form.fields else None, str(error))
