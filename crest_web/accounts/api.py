from __future__ import annotations

from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets

from crest_web.accounts.models import AuditRecord


class AuditRecordSerializer(serializers.ModelSerializer[AuditRecord]):
    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "at",
            "actor_name",
            "source",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "reason",
        ]


class AuditFilter(filters.FilterSet):
    since = filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")

    class Meta:
        model = AuditRecord
        fields = ["action", "object_type", "object_id", "actor_name", "source", "since"]


class AuditRecordViewSet(viewsets.ReadOnlyModelViewSet[AuditRecord]):
    """Who changed what, when, from which value to which (admins only)."""

    queryset = AuditRecord.objects.all()
    serializer_class = AuditRecordSerializer
    filterset_class = AuditFilter
