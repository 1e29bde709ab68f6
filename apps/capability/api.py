from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.capability import actions
from apps.capability.models import CapabilityStudy


class StudySerializer(serializers.ModelSerializer[CapabilityStudy]):
    feeder: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    feeder_version = serializers.IntegerField(source="feeder_version.number", read_only=True)

    class Meta:
        model = CapabilityStudy
        fields = [
            "id",
            "kind",
            "feeder",
            "feeder_version",
            "created_at",
            "status",
            "progress",
            "error",
            "params",
            "result",
            "validation",
            "compute_s",
        ]


class StartStudySerializer(serializers.Serializer[Any]):
    feeder = serializers.CharField()
    kind = serializers.ChoiceField(CapabilityStudy.Kind.choices, default="headroom")
    v_tm_range = serializers.CharField(required=False, help_text="v_tm study: START:STOP:STEP in pu")
    penetration = serializers.FloatField(required=False, help_text="placed-PV studies: PV peak / peak load")
    count = serializers.IntegerField(required=False, help_text="placed-PV studies: number of PV units")
    oversize = serializers.FloatField(required=False, help_text="placed-PV studies: inverter kVA / PV kW")
    seed = serializers.IntegerField(required=False)
    load_shape = serializers.CharField(required=False, help_text="day-ahead: 24 hourly load factors")
    pv_shape = serializers.CharField(required=False, help_text="day-ahead: 24 hourly PV factors")
    headroom = serializers.CharField(default="0:1:0.05", help_text="START:STOP:STEP, fractions of PV")
    v_tm = serializers.FloatField(default=1.0, help_text="transmission-side voltage, pu")
    sides = serializers.IntegerField(default=16, help_text="sides of the inner inverter polygon")


class CapabilityStudyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[CapabilityStudy]
):
    """Capability studies: start one (it runs on a worker), follow its progress, cancel it."""

    queryset = CapabilityStudy.objects.select_related("feeder", "feeder_version")
    serializer_class = StudySerializer
    filterset_fields = ["status", "kind"]
    required_permission: str | dict[str, str] | None = {
        "GET": "capability.view_capabilitystudy",
        "POST": "capability.run_study",
    }

    @extend_schema(request=StartStudySerializer, responses={202: StudySerializer})
    def create(self, request: Request) -> Response:
        body = StartStudySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            study = actions.do_start_study(
                request.user,
                "api",
                data["feeder"],
                headroom=data["headroom"],
                v_tm=data["v_tm"],
                sides=data["sides"],
                kind=data["kind"],
                extra={
                    k: data[k]
                    for k in (
                        "v_tm_range",
                        "penetration",
                        "count",
                        "oversize",
                        "seed",
                        "load_shape",
                        "pv_shape",
                    )
                    if k in data
                },
            )
        except actions.StudyError as exc:
            raise ValidationError({"request": [str(exc)]}) from exc
        return Response(StudySerializer(study).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=StudySerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        try:
            study = actions.do_cancel_study(request.user, "api", self.get_object().pk)
        except actions.StudyError as exc:
            raise ValidationError({"request": [str(exc)]}) from exc
        return Response(StudySerializer(study).data)
