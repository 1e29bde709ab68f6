"""DSO interfaces: admins list, add, edit and delete where the EMS reaches each DSO's DMS over DNP3,
its feeder count and base demand. Views parse and call the audited do_* actions; a refusal shows on
the form with nothing stored."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.ems.actions import EndpointError, do_delete_dso_endpoint
from apps.ems.forms import DsoEndpointForm, show_endpoint_error
from apps.ems.models import DsoEndpoint

VIEW = "ems.view_dsoendpoint"
ADD = "ems.add_dsoendpoint"
CHANGE = "ems.change_dsoendpoint"
DELETE = "ems.delete_dsoendpoint"


@permission_required(VIEW, raise_exception=True)
def dso_list(request: HttpRequest) -> HttpResponse:
    return render(request, "ems/dsos.html", {"interfaces": DsoEndpoint.objects.all()})


def _form_page(request: HttpRequest, endpoint: DsoEndpoint | None) -> HttpResponse:
    form = DsoEndpointForm(request.POST if request.method == "POST" else None, instance=endpoint)
    if form.is_bound and form.is_valid():
        try:
            saved = form.save_through_action(request.user, "web")
        except EndpointError as exc:  # changed by someone else since the form's checks
            show_endpoint_error(form, exc)
        else:
            verb = "registered" if endpoint is None else "saved"
            messages.success(request, f"DSO interface {saved.name} at bus {saved.bus} {verb}.")
            return redirect("ems_dsos")
    context = {"form": form, "endpoint": endpoint}
    return render(request, "ems/dso_form.html", context, status=400 if form.errors else 200)


@permission_required(ADD, raise_exception=True)
@require_http_methods(["GET", "POST"])
def dso_add(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@permission_required(CHANGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def dso_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, get_object_or_404(DsoEndpoint, pk=pk))


@permission_required(DELETE, raise_exception=True)
@require_POST
def dso_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(DsoEndpoint, pk=pk)
    try:
        do_delete_dso_endpoint(request.user, "web", endpoint.bus)
    except EndpointError as exc:  # deleted by someone else a moment ago
        messages.error(request, str(exc))
    else:
        messages.success(request, f"DSO interface {endpoint.name} at bus {endpoint.bus} deleted.")
    return redirect("ems_dsos")
