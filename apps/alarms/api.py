from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets

from apps.alarms.models import Alarm


class AlarmSerializer(serializers.ModelSerializer[Alarm]):
    active = serializers.BooleanField(read_only=True)
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = Alarm
        fields = [
            "id",
            "kind",
            "severity",
            "source_type",
            "source_id",
            "source_label",
            "message",
            "raised_at",
            "cleared_at",
            "active",
            "acknowledged_by",
            "acknowledged_at",
        ]


class AlarmFilter(filters.FilterSet):
    active = filters.BooleanFilter(field_name="cleared_at", lookup_expr="isnull")

    class Meta:
        model = Alarm
        fields = ["kind", "severity", "source_type", "source_id", "active"]


class AlarmViewSet(viewsets.ReadOnlyModelViewSet[Alarm]):
    """Alarms, newest first; `?active=true` for the ones not cleared yet (read-only)."""

    queryset = Alarm.objects.select_related("acknowledged_by").all()
    serializer_class = AlarmSerializer
    filterset_class = AlarmFilter
