"""REST API of the alarms: the list (read by anyone who may see alarms) and what the alarm page does —
acknowledge with a comment, shelve, unshelve — with the page's permissions and checks."""

from __future__ import annotations

import math
from typing import Any

from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.alarms.actions import AlarmError, do_acknowledge_alarm, do_shelve_alarm, do_unshelve_alarm
from apps.alarms.models import Alarm

ACKNOWLEDGE = "alarms.acknowledge_alarm"
SHELVE = "alarms.shelve_alarm"


class AlarmSerializer(serializers.ModelSerializer[Alarm]):
    active = serializers.BooleanField(read_only=True)
    state = serializers.CharField(read_only=True)
    shelved = serializers.SerializerMethodField()
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = Alarm
        fields = [
            "id",
            "kind",
            "priority",
            "state",
            "source_type",
            "source_id",
            "source_label",
            "message",
            "raised_at",
            "cleared_at",
            "active",
            "acknowledged_by",
            "acknowledged_at",
            "ack_comment",
            "chattering",
            "shelved",
        ]

    def get_shelved(self, alarm: Alarm) -> bool:
        return bool(getattr(alarm, "is_shelved", False))


class AlarmFilter(filters.FilterSet):
    active = filters.BooleanFilter(field_name="cleared_at", lookup_expr="isnull")
    shelved = filters.BooleanFilter(field_name="is_shelved")

    class Meta:
        model = Alarm
        fields = ["kind", "priority", "source_type", "source_id", "active", "shelved"]


def _minutes(raw: object) -> float | None:
    """The body's `minutes`: a number, or null/absent for a one-shot shelf."""
    if raw is None or raw == "":
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise AlarmError(f"minutes is a number of minutes (or null for one-shot), not {raw!r}.") from None
    if not math.isfinite(value):
        raise AlarmError(f"minutes is a number of minutes (or null for one-shot), not {raw!r}.")
    return value


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise AlarmError("Send a JSON object.")
    return dict(request.data)


class AlarmViewSet(viewsets.ReadOnlyModelViewSet[Alarm]):
    """Alarms, newest first; `?active=true` for the ones not cleared yet, `?shelved=true` for the
    shelved ones."""

    serializer_class = AlarmSerializer
    filterset_class = AlarmFilter
    required_permission: str | None = None  # set per extra action below

    def get_queryset(self) -> Any:
        return Alarm.objects.select_related("acknowledged_by").with_shelf(timezone.now())

    def _answer(self, request: Request, pk: str, work: Any) -> Response:
        """Run one do_* (the role's permission is checked before, RolePermission/required_permission)."""
        try:
            work(_body(request))
        except AlarmError as exc:
            return Response({"error": str(exc)}, status=400)
        return Response(self.get_serializer(self.get_queryset().get(pk=int(pk))).data)

    @extend_schema(request=dict, responses={200: AlarmSerializer, 400: dict})
    @action(detail=True, methods=["post"], required_permission=ACKNOWLEDGE)
    def acknowledge(self, request: Request, pk: str) -> Response:
        """Acknowledge: {"comment"?}."""
        return self._answer(
            request, pk,
            lambda body: do_acknowledge_alarm(request.user, "api", int(pk), str(body.get("comment") or "")),
        )  # fmt: skip

    @extend_schema(request=dict, responses={200: AlarmSerializer, 400: dict})
    @action(detail=True, methods=["post"], required_permission=SHELVE)
    def shelve(self, request: Request, pk: str) -> Response:
        """Shelve its kind on its source: {"minutes": N (timed, at most the admin's limit) or null
        (one-shot, until it clears), "comment"?}."""
        return self._answer(
            request, pk,
            lambda body: do_shelve_alarm(
                request.user, "api", int(pk), _minutes(body.get("minutes")), str(body.get("comment") or "")
            ),
        )  # fmt: skip

    @extend_schema(request=None, responses={200: AlarmSerializer, 400: dict})
    @action(detail=True, methods=["post"], required_permission=SHELVE)
    def unshelve(self, request: Request, pk: str) -> Response:
        """Bring a shelved alarm back to the operator's list now."""
        return self._answer(request, pk, lambda body: do_unshelve_alarm(request.user, "api", int(pk)))
