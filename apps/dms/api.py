from __future__ import annotations

from typing import Any

from rest_framework import serializers, viewsets

from apps.dms.models import Feeder


class FeederSerializer(serializers.ModelSerializer[Feeder]):
    version = serializers.SerializerMethodField()
    buses = serializers.SerializerMethodField()

    class Meta:
        model = Feeder
        fields = ["id", "name", "description", "version", "buses"]

    def get_version(self, feeder: Feeder) -> int | None:
        version = feeder.current_version()
        return version.number if version else None

    def get_buses(self, feeder: Feeder) -> list[dict[str, Any]]:
        version = feeder.current_version()
        if version is None:
            return []
        return [dict(b) for b in version.buses.values("name", "phases", "base_kv", "x", "y")]


class FeederViewSet(viewsets.ReadOnlyModelViewSet[Feeder]):
    """Feeders with the buses (and their phases) of their current model version."""

    queryset = Feeder.objects.all()
    serializer_class = FeederSerializer
    lookup_field = "name"
