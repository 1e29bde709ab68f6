"""One filter set for the registry list page, the CSV export and the API."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from apps.der_registry.engine.ieee1547 import OWNERSHIPS
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DER
from apps.dms.models import Feeder


def _choices(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


HEX_PREFIX = re.compile(r"[0-9A-Fa-f]{8,40}")
PATH_LABELS = [
    ("dnp3_direct", "DNP3 direct"),
    ("sep2_direct", "IEEE 2030.5 direct"),
    ("via_aggregator", "Via aggregator"),
]


class DERFilter(filters.FilterSet):
    q = filters.CharFilter(method="search", label="Search (name, serial, bus, LFDI, SFDI, host)")
    feeder = filters.ModelChoiceFilter(queryset=Feeder.objects.all(), to_field_name="name", empty_label="All")
    phase = filters.ChoiceFilter(
        choices=[("1", "1"), ("2", "2"), ("3", "3")], method="on_phase", empty_label="All"
    )
    status = filters.ChoiceFilter(choices=_choices([s.value for s in Status]), empty_label="All")
    protocol = filters.ChoiceFilter(
        field_name="comm_path", choices=PATH_LABELS, label="Protocol / path", empty_label="All"
    )
    ownership = filters.ChoiceFilter(choices=_choices(OWNERSHIPS), label="Owner", empty_label="All")
    compliance = filters.ChoiceFilter(choices=DER.Compliance.choices, empty_label="All")
    group = filters.CharFilter(field_name="groups__name", label="Group")
    bus = filters.CharFilter(method="on_bus")
    telemetry = filters.ChoiceFilter(
        choices=[("stale", "stale or missing"), ("fresh", "fresh")],
        method="on_telemetry",
        empty_label="All",
    )

    class Meta:
        model = DER
        fields = [
            "q",
            "feeder",
            "phase",
            "status",
            "protocol",
            "ownership",
            "compliance",
            "group",
            "bus",
            "telemetry",
        ]

    def search(self, queryset: QuerySet[DER], name: str, value: str) -> QuerySet[DER]:
        text = value.strip()
        if not text:
            return queryset
        match = (
            Q(name__icontains=text)
            | Q(serial_number__icontains=text)
            | Q(bus=text.lower())
            | Q(dnp3_host=text)
        )
        if HEX_PREFIX.fullmatch(text):  # a partial LFDI, as read off a certificate or a log
            match |= Q(lfdi__startswith=text.upper())
        if text.isdigit() and len(text) <= 12:
            match |= Q(sfdi=int(text))
        return queryset.filter(match)

    def on_phase(self, queryset: QuerySet[DER], name: str, value: str) -> QuerySet[DER]:
        return queryset.filter(phases__contains=[int(value)])

    def on_telemetry(self, queryset: QuerySet[DER], name: str, value: str) -> QuerySet[DER]:
        stale = DER.objects.with_stale_telemetry(timezone.now()).values("pk")
        return queryset.filter(pk__in=stale) if value == "stale" else queryset.exclude(pk__in=stale)

    def on_bus(self, queryset: QuerySet[DER], name: str, value: str) -> QuerySet[DER]:
        return queryset.filter(bus=value.strip().lower())
