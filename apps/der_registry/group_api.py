"""REST API of DER groups and their 2030.5 group programs: thin views over the do_* actions."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.der_registry import actions
from apps.der_registry.api import json_object, refused
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DERGroup, GroupControl
from apps.der_registry.serializers import DERGroupSerializer, GroupControlSerializer


def live_groups() -> QuerySet[DERGroup]:
    """Groups with their members counted: all not decommissioned; the active ones a group control
    reaches (over IEEE 2030.5) and the active DNP3 ones it does not."""
    live, active = ~Q(ders__status=Status.DECOMMISSIONED), Q(ders__status=Status.ACTIVE)
    dnp3 = Q(ders__comm_path="dnp3_direct")
    return DERGroup.objects.annotate(
        n_members=Count("ders", filter=live, distinct=True),
        n_sep2=Count("ders", filter=active & ~dnp3, distinct=True),
        n_dnp3=Count("ders", filter=active & dnp3, distinct=True),
    )


class DERGroupViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet[DERGroup],
):
    queryset = DERGroup.objects.all()
    serializer_class = DERGroupSerializer
    required_permission: str | dict[str, str] | None = None  # set per extra action below

    def perform_create(self, serializer: BaseSerializer[DERGroup]) -> None:
        data = serializer.validated_data
        try:
            group = actions.do_create_group(
                self.request.user, "api", data["name"], data["kind"], data.get("description", "")
            )
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        serializer.instance = live_groups().get(pk=group.pk)

    def get_queryset(self) -> QuerySet[DERGroup]:
        return live_groups()

    @extend_schema(request=dict, responses={200: DERGroupSerializer})
    @action(detail=True, methods=["post"], required_permission="der_registry.change_dergroup")
    def primacy(self, request: Request, pk: str) -> Response:
        """Set the primacy of the group's 2030.5 program (0–255, lower takes precedence)."""
        group = self.get_object()
        try:
            actions.do_set_group_primacy(request.user, "api", group.name, json_object(request).get("primacy"))
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(DERGroupSerializer(live_groups().get(pk=group.pk)).data)

    @extend_schema(request=dict, responses={200: DERGroupSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="default-mode",
        required_permission="der_registry.change_dergroup",
    )
    def default_mode(self, request: Request, pk: str) -> Response:
        """Give the group's 2030.5 program a DefaultDERControl: {"default_mode": …, "mode_params": …}
        as a DER's default mode ("" and {} take it away). Every member it reaches must follow it."""
        group, body = self.get_object(), json_object(request)
        mode, params = body.get("default_mode", ""), body.get("mode_params", {})
        if not isinstance(mode, str):
            mode = repr(mode)  # refused below as not a mode, in words
        try:
            actions.do_set_group_default_mode(request.user, "api", group.name, mode, params)
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        return Response(DERGroupSerializer(live_groups().get(pk=group.pk)).data)

    @extend_schema(
        request=dict, responses={200: GroupControlSerializer(many=True), 201: GroupControlSerializer}
    )
    @action(
        detail=True,
        methods=["get", "post"],
        required_permission={"GET": "der_registry.view_dergroup", "POST": "der_registry.issue_setpoint"},
    )
    def controls(self, request: Request, pk: str) -> Response:
        """GET: the group's controls, newest first. POST: issue one to every member's device."""
        group = self.get_object()
        if request.method == "GET":
            rows = (
                GroupControl.objects.filter(group=group)
                .annotate(**response_counts())
                .order_by("-start_at", "-id")[:200]
            )
            return Response(GroupControlSerializer(rows, many=True).data)
        try:
            control = actions.do_issue_group_control(request.user, "api", group.name, json_object(request))
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        row = GroupControl.objects.annotate(**response_counts()).get(pk=control.pk)
        return Response(GroupControlSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: GroupControlSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"controls/(?P<control_id>\d+)/cancel",
        required_permission="der_registry.issue_setpoint",
    )
    def cancel(self, request: Request, pk: str, control_id: str) -> Response:
        group = self.get_object()
        try:
            actions.do_cancel_group_control(request.user, "api", group.name, int(control_id))
        except actions.RegistryError as exc:
            raise refused(exc) from exc
        row = GroupControl.objects.annotate(**response_counts()).get(pk=int(control_id))
        return Response(GroupControlSerializer(row).data)


def response_counts() -> dict[str, Any]:
    """How many member devices answered each way (2030.5 Response status: 1 received, 2 started,
    3 completed, 4 opted out, ≥ 252 rejected), each device counted once."""

    def counted(*codes: int) -> Count:
        return Count("responses__der", filter=Q(responses__status__in=codes), distinct=True)

    return {
        "n_received": counted(1),
        "n_started": counted(2),
        "n_completed": counted(3),
        "n_refused": counted(4, 252, 253, 254),
    }
