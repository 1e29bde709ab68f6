"""Per-feeder dispatch page: the runs with requested vs achieved Q, and a manual request form
(operators; audited through do_request_dispatch); one run's set points, violations and shortfalls."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.dms.actions import DispatchError, do_approve_dispatch, do_request_dispatch, do_set_dispatch_mode
from apps.dms.models import DispatchRun, Feeder

VIEW = "dms.view_feeder"
DISPATCH = "der_registry.issue_setpoint"  # a dispatch issues set points: the same right


class DispatchForm(forms.Form):
    q_kvar = forms.FloatField(label="Substation Q (kvar, + = import)")
    v_sub_pu = forms.FloatField(label="Substation voltage (pu)", initial=1.0)
    pv_curtailment_kw = forms.FloatField(label="PV curtailment (kW)", initial=0.0, min_value=0.0)
    dr_kw = forms.FloatField(label="Demand response (kW)", initial=0.0, min_value=0.0)
    reason = forms.CharField(max_length=200, required=False)


@permission_required(VIEW, raise_exception=True)
def dispatch_runs(request: HttpRequest, name: str) -> HttpResponse:
    feeder = get_object_or_404(Feeder, name=name)
    form = DispatchForm(request.POST or None, initial={"v_sub_pu": _modelled_source_pu(feeder)})
    if request.method == "POST":
        if not request.user.has_perm(DISPATCH):
            raise PermissionDenied("Only operators may dispatch.")
        if form.is_valid():
            try:
                run = do_request_dispatch(
                    request.user, "web", feeder.name, **form.cleaned_data, trigger="manual"
                )
            except DispatchError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Dispatch {run.pk} queued.")
                return redirect("dms:dispatch_detail", name=feeder.name, run_id=run.pk)
    runs = feeder.dispatch_runs.all()[:50]
    context = {
        "feeder": feeder,
        "form": form,
        "runs": runs,
        "can_dispatch": request.user.has_perm(DISPATCH),
        "modes": Feeder.Mode.choices,
    }
    return render(request, "dms/dispatch_runs.html", context, status=400 if form.errors else 200)


def _modelled_source_pu(feeder: Feeder) -> float:
    """The substation voltage the feeder's model holds (ckt5's file: 1.05 pu), the form's starting
    value: at 1.0 pu ckt5's far secondaries sit below 0.95 pu before anything is dispatched. Read in
    the database, not by loading the whole stored model."""
    value = feeder.versions.order_by("-number").values_list("model__source_pu", flat=True).first()
    return round(float(value), 4) if isinstance(value, int | float) and value > 0 else 1.0


@permission_required(VIEW, raise_exception=True)
def dispatch_detail(request: HttpRequest, name: str, run_id: int) -> HttpResponse:
    run = get_object_or_404(DispatchRun.objects.select_related("feeder"), pk=run_id, feeder__name=name)
    return render(request, "dms/dispatch_detail.html", {"run": run, "feeder": run.feeder, "r": run.result})


@require_POST
@permission_required("dms.approve_dispatch", raise_exception=True)
def dispatch_approve(request: HttpRequest, name: str, run_id: int) -> HttpResponse:
    """Manual mode: the operator lets the run's set points go out (before its deadline)."""
    run = get_object_or_404(DispatchRun, pk=run_id, feeder__name=name)
    try:
        do_approve_dispatch(request.user, "web", run.pk)
    except DispatchError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Dispatch {run.pk} approved: its set points are on their way to the DERs.")
    return redirect("dms:dispatch_detail", name=name, run_id=run.pk)


@require_POST
@permission_required("dms.change_feeder", raise_exception=True)
def dispatch_mode(request: HttpRequest, name: str) -> HttpResponse:
    """An admin sets how the DMS takes the EMS's requests for the feeder."""
    feeder = get_object_or_404(Feeder, name=name)
    try:
        feeder = do_set_dispatch_mode(request.user, "web", feeder.name, request.POST.get("mode", ""))
    except DispatchError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Feeder {feeder.name}: {feeder.get_dispatch_mode_display()}.")
    return redirect("dms:dispatch_runs", name=feeder.name)
