"""REST API of the registry: thin views over the do_* actions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.der_registry import actions
from apps.der_registry.engine import csv_format
from apps.der_registry.filters import DERFilter
from apps.der_registry.models import DER, CsvImport
from apps.der_registry.serializers import (
    AgreeSerializer,
    CsvImportSerializer,
    DefaultModeSerializer,
    DERReadSerializer,
    DERWriteSerializer,
    MonitoringSerializer,
    SetPointSerializer,
    TransitionSerializer,
    write_data_from_der,
)


def refused(exc: actions.RegistryError) -> ValidationError:
    return ValidationError(exc.by_field())


def json_object(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError({"detail": ["The body must be a JSON object of DER fields."]})
    return dict(request.data)


class DERViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[DER]):
    """DERs with their four IEEE 1547 information categories. Decommission instead of delete."""

    queryset = DER.objects.select_related("feeder", "latest").prefetch_related("groups")
    filterset_class = DERFilter
    ordering_fields = ["name", "created_at", "status"]
    ordering = ["name"]
    required_permission: str | dict[str, str] | None = None  # set per extra action below

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("create", "update", "partial_update"):
            return DERWriteSerializer
        return DERReadSerializer

    def _save(self, request: Request, data: dict[str, Any], der: DER | None) -> Response:
        writer = DERWriteSerializer(data=data)
        writer.is_valid(raise_exception=True)
        try:
            if der is None:
                der = actions.do_enroll_der(
                    request.user, "api", writer.to_record(), groups=writer.validated_data["microgrids"]
                )
            else:
                der = actions.do_update_der(
                    request.user,
                    "api",
                    der.pk,
                    writer.to_record(),
                    groups=writer.validated_data["microgrids"],
                )
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        code = status.HTTP_201_CREATED if self.action == "create" else status.HTTP_200_OK
        return Response(DERReadSerializer(self.get_queryset().get(pk=der.pk)).data, status=code)

    @extend_schema(request=DERWriteSerializer, responses={201: DERReadSerializer})
    def create(self, request: Request) -> Response:
        return self._save(request, json_object(request), None)

    @extend_schema(request=DERWriteSerializer, responses=DERReadSerializer)
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._save(request, json_object(request), self.get_object())

    @extend_schema(request=DERWriteSerializer, responses=DERReadSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        der = self.get_object()
        return self._save(request, {**write_data_from_der(der), **json_object(request)}, der)

    @extend_schema(request=TransitionSerializer, responses=DERReadSerializer)
    @action(detail=True, methods=["post"], required_permission="der_registry.approve_der")
    def lifecycle(self, request: Request, pk: str | None = None) -> Response:
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            der = actions.do_transition_der(request.user, "api", self.get_object().pk, **body.validated_data)
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(DERReadSerializer(self.get_queryset().get(pk=der.pk)).data)

    @extend_schema(request=AgreeSerializer, responses=DERReadSerializer)
    @action(detail=True, methods=["post"], required_permission="der_registry.change_der")
    def agree(self, request: Request, pk: str | None = None) -> Response:
        body = AgreeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            der = actions.do_agree_configuration(
                request.user, "api", self.get_object().pk, body.validated_data["party"]
            )
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(DERReadSerializer(self.get_queryset().get(pk=der.pk)).data)

    @extend_schema(request=DefaultModeSerializer, responses=DERReadSerializer)
    @action(
        detail=True, methods=["post"], url_path="default-mode", required_permission="der_registry.change_der"
    )
    def default_mode(self, request: Request, pk: str | None = None) -> Response:
        """Set what the DER does while no set point is in force; 2030.5 devices get it as their
        DefaultDERControl (and its curve) at their next poll."""
        body = DefaultModeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            der = actions.do_set_default_mode(
                request.user,
                "api",
                self.get_object().pk,
                body.validated_data["default_mode"],
                body.validated_data["mode_params"],
            )
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(DERReadSerializer(self.get_queryset().get(pk=der.pk)).data)

    @extend_schema(request=MonitoringSerializer, responses=MonitoringSerializer(many=True))
    @action(
        detail=True,
        methods=["get", "post"],
        required_permission={
            "GET": "der_registry.view_monitoringsample",
            "POST": "der_registry.record_monitoring",
        },
    )
    def monitoring(self, request: Request, pk: str | None = None) -> Response:
        der = self.get_object()
        if request.method == "GET":
            page: Any = self.paginate_queryset(der.samples.all())  # type: ignore[arg-type]
            return self.get_paginated_response(MonitoringSerializer(page, many=True).data)
        body = MonitoringSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            sample = actions.do_record_monitoring(request.user, "api", der.pk, dict(body.validated_data))
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(MonitoringSerializer(sample).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SetPointSerializer, responses=SetPointSerializer(many=True))
    @action(
        detail=True,
        methods=["get", "post"],
        required_permission={"GET": "der_registry.view_setpoint", "POST": "der_registry.issue_setpoint"},
    )
    def setpoints(self, request: Request, pk: str | None = None) -> Response:
        der = self.get_object()
        if request.method == "GET":
            page: Any = self.paginate_queryset(der.setpoints.all())  # type: ignore[arg-type]
            return self.get_paginated_response(SetPointSerializer(page, many=True).data)
        body = SetPointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = {k: body.validated_data.get(k) for k in ("control_mode", "p_limit_kw", "q_kvar")}
        try:
            sp = actions.do_issue_setpoint(
                request.user,
                "api",
                der.pk,
                **fields,
                params=body.validated_data.get("params") or {},
                note=body.validated_data.get("note", ""),
            )
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(SetPointSerializer(sp).data, status=status.HTTP_201_CREATED)

    @extend_schema(request={"multipart/form-data": CsvImportSerializer}, responses={200: dict, 400: dict})
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        required_permission="der_registry.import_der",
    )
    def import_csv(self, request: Request) -> Response:
        """Dry run: validates the CSV and returns every bad row; writes no DER. Confirm with
        POST /api/ders/import/{id}/confirm/ when the report has no errors."""
        body = CsvImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        try:
            text = csv_format.decode_upload(upload.read())
        except ValueError as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        imp = actions.do_preview_csv_import(request.user, "api", upload.name, text)
        return Response(
            {"id": imp.pk, "status": imp.status, **imp.report},
            status=status.HTTP_200_OK if imp.status == "previewed" else 400,
        )

    @extend_schema(request=None, responses={200: dict})
    @action(
        detail=False,
        methods=["post"],
        url_path=r"import/(?P<import_id>\d+)/confirm",
        required_permission="der_registry.import_der",
    )
    def import_confirm(self, request: Request, import_id: str) -> Response:
        if not CsvImport.objects.filter(pk=int(import_id), created_by=request.user.pk).exists():
            return Response({"detail": "No such upload of yours."}, status=404)
        try:
            ids = actions.do_confirm_csv_import(request.user, "api", int(import_id))
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response({"created": len(ids), "ids": ids})
