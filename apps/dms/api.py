from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.dms.actions import FeederError, do_import_feeder
from apps.dms.engine.network import FeederImportError
from apps.dms.engine.studies import ENGINES, result_json, run_powerflow
from apps.dms.feeders import network_of, unpack_upload
from apps.dms.head import HeadError, do_record_head_measurement
from apps.dms.models import Feeder, HeadMeasurement


class FeederSerializer(serializers.ModelSerializer[Feeder]):
    version = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    buses = serializers.SerializerMethodField()

    class Meta:
        model = Feeder
        fields = ["id", "name", "description", "version", "summary", "buses"]

    def get_version(self, feeder: Feeder) -> int | None:
        version = feeder.current_version()
        return version.number if version else None

    def get_summary(self, feeder: Feeder) -> dict[str, int]:
        version = feeder.current_version()
        return dict(version.summary) if version else {}

    def get_buses(self, feeder: Feeder) -> list[dict[str, Any]]:
        version = feeder.current_version()
        if version is None:
            return []
        return [dict(b) for b in version.buses.values("name", "phases", "base_kv", "x", "y", "distance_km")]


class FeederImportSerializer(serializers.Serializer[Any]):
    name = serializers.SlugField(max_length=64)
    description = serializers.CharField(max_length=200, required=False, default="")
    file = serializers.FileField(help_text="the master .dss file or a .zip of the feeder's folder")
    master = serializers.CharField(required=False, default="", help_text="master file name inside a .zip")


class HeadReadingSerializer(serializers.ModelSerializer[HeadMeasurement]):
    class Meta:
        model = HeadMeasurement
        fields = ["p_kw", "q_kvar", "v_pu", "measured_at", "received_at", "source"]
        read_only_fields = ["received_at", "source"]


class FeederViewSet(viewsets.ReadOnlyModelViewSet[Feeder]):
    """Feeders with the buses (and their phases) of their current model version."""

    queryset = Feeder.objects.all()
    serializer_class = FeederSerializer
    lookup_field = "name"
    required_permission: str | dict[str, str] | None = None

    @extend_schema(
        parameters=[OpenApiParameter("engine", str, enum=list(ENGINES), default="lindist3flow")],
        responses={200: dict},
    )
    @action(detail=True, methods=["get"])
    def powerflow(self, request: Request, name: str | None = None) -> Response:
        """`{"voltages": {"<bus>.<phase>": pu}, "substation": {"p_kw", "q_kvar"}}` (DESIGN §7)."""
        engine = request.query_params.get("engine", "lindist3flow")
        if engine not in ENGINES:
            raise ValidationError({"engine": [f"Unknown engine {engine!r}; use {' or '.join(ENGINES)}."]})
        feeder = self.get_object()
        version = feeder.current_version()
        try:
            if version is None:
                raise FeederError(f"Feeder {feeder.name!r} has no imported model yet.")
            return Response(result_json(run_powerflow(network_of(version), engine)))
        except (FeederError, FeederImportError) as exc:
            raise ValidationError({"feeder": [str(exc)]}) from exc

    @extend_schema(
        request=HeadReadingSerializer, responses={200: HeadReadingSerializer(many=True), 201: dict}
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="head",
        required_permission={"GET": "dms.view_feeder", "POST": "dms.record_head_measurement"},
    )
    def head(self, request: Request, name: str | None = None) -> Response:
        """The substation meter at the feeder head (SCADA): GET the newest readings, POST one
        `{"p_kw", "q_kvar", "v_pu", "measured_at"?}` — P and Q drawn from the transmission system,
        per feeder. The DMS allocates its loads to the newest fresh one before each dispatch."""
        feeder = self.get_object()
        if request.method == "GET":
            rows = feeder.head_measurements.order_by("-measured_at", "-pk")[:50]
            return Response(HeadReadingSerializer(rows, many=True).data)
        values = request.data if isinstance(request.data, dict) else {}
        try:
            row = do_record_head_measurement(request.user, "api", feeder.name, dict(values))
        except HeadError as exc:
            raise ValidationError({"reading": [str(exc)]}) from exc
        return Response(HeadReadingSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request={"multipart/form-data": FeederImportSerializer}, responses={201: FeederSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        required_permission="dms.add_feeder",
    )
    def import_feeder(self, request: Request) -> Response:
        body = FeederImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with tempfile.TemporaryDirectory(prefix="crest-feeder-") as tmp:
            try:
                master, root = unpack_upload(data["file"], data["master"], Path(tmp))
                version = do_import_feeder(
                    request.user, "api", master, data["name"], data["description"], upload_root=root
                )
            except FeederError as exc:
                raise ValidationError({"file": [str(exc)]}) from exc
        return Response(FeederSerializer(version.feeder).data, status=status.HTTP_201_CREATED)
