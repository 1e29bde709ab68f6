"""Out of service (operators): a DER under maintenance — its alarms keep being raised and recorded
but stay off the operator's list until it is returned to service. Forms on the DER's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.alarms.actions import AlarmError, do_return_to_service, do_take_out_of_service
from apps.der_registry.models import DER

SHELVE = "alarms.shelve_alarm"


@require_POST
@permission_required(SHELVE, raise_exception=True)
def der_out_of_service(request: HttpRequest, pk: int) -> HttpResponse:
    der = get_object_or_404(DER, pk=pk)
    try:
        do_take_out_of_service(
            request.user, "web", source_type="der", source_id=der.pk, source_label=der.name,
            reason=request.POST.get("reason", ""),
        )  # fmt: skip
    except AlarmError as exc:
        messages.error(request, f"Nothing changed: {exc}")
    else:
        text = f"The alarms of {der.name} are out of service until it is returned to service."
        messages.success(request, text)
    return redirect("der_registry:detail", pk=der.pk)


@require_POST
@permission_required(SHELVE, raise_exception=True)
def der_return_to_service(request: HttpRequest, pk: int) -> HttpResponse:
    der = get_object_or_404(DER, pk=pk)
    try:
        do_return_to_service(request.user, "web", source_type="der", source_id=der.pk)
    except AlarmError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The alarms of {der.name} are back in service.")
    return redirect("der_registry:detail", pk=der.pk)
