"""Registry pages: thin — parse, call a do_* action, render."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.alarms.models import AlarmOutOfService
from apps.der_registry import actions
from apps.der_registry.adapters import record_from_der
from apps.der_registry.engine import csv_format, ieee1547
from apps.der_registry.engine.lifecycle import allowed_targets
from apps.der_registry.filters import DERFilter
from apps.der_registry.forms import (
    CsvUploadForm,
    DefaultModeForm,
    DERForm,
    SetPointForm,
    TransitionForm,
    initial_from_der,
)
from apps.der_registry.models import DER, CsvImport
from apps.der_registry.sep2_in_force import asked_now
from crest_web.accounts.models import AuditRecord
from crest_web.pagination import DeferredJoinPaginator

VIEW = "der_registry.view_der"
PAGE_SIZES = (25, 50, 100, 200)


def filtered(request: HttpRequest) -> tuple[DERFilter, QuerySet[DER]]:
    base = DER.objects.select_related("feeder", "latest").order_by("name")
    fs = DERFilter(request.GET, queryset=base)
    return fs, (fs.qs if fs.is_valid() else base.none())


@permission_required(VIEW, raise_exception=True)
def der_list(request: HttpRequest) -> HttpResponse:
    fs, qs = filtered(request)
    size = int(request.GET["size"]) if request.GET.get("size", "").isdigit() else 50
    page = DeferredJoinPaginator(qs, size if size in PAGE_SIZES else 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "der_registry/list.html",
        {
            "filter": fs,
            "page": page,
            "now": timezone.now(),
            "query": query.urlencode(),
            "page_sizes": PAGE_SIZES,
        },
    )


def _detail_page(
    request: HttpRequest,
    der: DER,
    setpoint_form: SetPointForm | None = None,
    status: int = 200,
    default_mode_form: DefaultModeForm | None = None,
) -> HttpResponse:
    lineage = der.lineage()
    effective = der.effective()
    rows = [
        (key, label, getattr(der, f"np_{key}"), getattr(der, f"cfg_{key}"), effective[key])
        for key, label in ieee1547.RATING_FIELDS.items()
    ]
    latest = getattr(der, "latest", None)
    has_config = any(getattr(der, f"cfg_{key}") is not None for key in ieee1547.RATING_FIELDS)
    return render(
        request,
        "der_registry/detail.html",
        {
            "der": der,
            "ratings": rows,
            "latest": latest,
            "stale": latest.is_stale() if latest else True,
            "samples": der.samples.all()[:20],
            "setpoints": [
                sp
                for d in lineage
                for sp in d.setpoints.select_related("issued_by", "dispatch_run__feeder")[:50]
            ],
            "lifecycle": [ev for d in lineage for ev in d.lifecycle.all()],
            "lineage": lineage,
            "targets": allowed_targets(der.status),
            "has_config": has_config,
            "audit": AuditRecord.objects.filter(
                object_type="der_registry.der", object_id__in=[str(d.pk) for d in lineage]
            )[:50],
            "setpoint_form": setpoint_form or SetPointForm(der=der),
            "default_mode_form": default_mode_form or DefaultModeForm(der=der),
            "mode_labels": dict(ieee1547.CONTROL_MODE_LABELS),
            # What its 2030.5 device is asked now, by program primacy (a DNP3 DER has no programs).
            "asked": asked_now(der) if der.comm_path != "dnp3_direct" and der.status == "active" else None,
            "out_of_service": AlarmOutOfService.objects.filter(
                source_type="der", source_id=str(der.pk), returned_at__isnull=True
            )
            .select_related("taken_by")
            .first(),
        },
        status=status,
    )


@permission_required(VIEW, raise_exception=True)
def der_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, get_object_or_404(DER.objects.select_related("feeder", "replaces"), pk=pk))


def _form_page(
    request: HttpRequest, form: DERForm, title: str, der: DER | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request, "der_registry/form.html", {"form": form, "title": title, "der": der}, status=status
    )


@permission_required("der_registry.add_der", raise_exception=True)
def der_enroll(request: HttpRequest) -> HttpResponse:
    replaces = None
    if request.GET.get("replaces", "").isdigit():
        replaces = get_object_or_404(DER, pk=int(request.GET["replaces"]))
    title = f"Replace {replaces.name}" if replaces else "Enroll a DER"
    if request.method != "POST":
        initial = initial_from_der(replaces) if replaces else {}
        if replaces:
            initial.update(name="", serial_number="", lfdi="", sfdi=None)
        return _form_page(request, DERForm(initial=initial), title, replaces)
    form = DERForm(request.POST)
    if form.is_valid():
        try:
            if replaces:
                der = actions.do_replace_der(request.user, "web", replaces.pk, form.to_record())
            else:
                der = actions.do_enroll_der(request.user, "web", form.to_record(), groups=form.group_names())
        except actions.RegistryError as exc:
            form.add_issues(exc.issues)
        else:
            _flash_saved(request, der, "enrolled (pending approval)")
            return redirect("der_registry:detail", pk=der.pk)
    return _form_page(request, form, title, replaces, status=400)


@permission_required("der_registry.change_der", raise_exception=True)
def der_edit(request: HttpRequest, pk: int) -> HttpResponse:
    der = get_object_or_404(DER, pk=pk)
    title = f"Edit {der.name}"
    if request.method != "POST":
        return _form_page(request, DERForm(initial=initial_from_der(der)), title, der)
    form = DERForm(request.POST)
    if form.is_valid():
        try:
            der = actions.do_update_der(
                request.user, "web", der.pk, form.to_record(), groups=form.group_names()
            )
        except actions.RegistryError as exc:
            form.add_issues(exc.issues)
        else:
            _flash_saved(request, der, "saved")
            return redirect("der_registry:detail", pk=der.pk)
    return _form_page(request, form, title, der, status=400)


def _flash_saved(request: HttpRequest, der: DER, what: str) -> None:
    messages.success(request, f"{der.name} {what}.")
    if der.compliance_notes:
        messages.warning(request, "Saved with IEEE 1547 compliance warnings — see below.")


@require_POST
@permission_required("der_registry.approve_der", raise_exception=True)
def der_transition(request: HttpRequest, pk: int) -> HttpResponse:
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a lifecycle action.")
    else:
        try:
            der = actions.do_transition_der(
                request.user, "web", pk, form.cleaned_data["target"], form.cleaned_data["reason"]
            )
            messages.success(request, f"{der.name} is now {der.status}.")
        except actions.RegistryError as exc:
            messages.error(request, str(exc.issues[0].message))
    return redirect("der_registry:detail", pk=pk)


@require_POST
@permission_required("der_registry.change_der", raise_exception=True)
def der_agree(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        actions.do_agree_configuration(request.user, "web", pk, request.POST.get("party", ""))
        messages.success(request, "Agreement recorded.")
    except actions.RegistryError as exc:
        messages.error(request, exc.issues[0].message)
    return redirect("der_registry:detail", pk=pk)


@require_POST
@permission_required("der_registry.issue_setpoint", raise_exception=True)
def der_setpoint(request: HttpRequest, pk: int) -> HttpResponse:
    der = get_object_or_404(DER.objects.select_related("feeder", "replaces"), pk=pk)
    form = SetPointForm(request.POST, der=der)
    return _submitted(
        request,
        der,
        form,
        lambda: actions.do_issue_setpoint(request.user, "web", pk, **form.setpoint()),
        f"Set point recorded for {der.name}.",
    )


def _submitted(
    request: HttpRequest,
    der: DER,
    form: SetPointForm | DefaultModeForm,
    act: Callable[[], object],
    done: str,
) -> HttpResponse:
    """A DER page form: valid and taken by its action → back to the page with `done`; otherwise
    the page again with the form's errors beside its fields (what was typed kept), status 400."""
    if form.is_valid():
        try:
            act()
        except actions.RegistryError as exc:
            form.add_issues(exc.issues)
        else:
            messages.success(request, done)
            return redirect("der_registry:detail", pk=der.pk)
    if isinstance(form, SetPointForm):
        return _detail_page(request, der, setpoint_form=form, status=400)
    return _detail_page(request, der, default_mode_form=form, status=400)


@permission_required("der_registry.import_der", raise_exception=True)
def der_import(request: HttpRequest) -> HttpResponse:
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        name = str(getattr(request.FILES.get("file"), "name", "") or "upload.csv")
        imp = actions.do_preview_csv_import(request.user, "web", name, form.cleaned_data["file"])
        return redirect("der_registry:import_preview", pk=imp.pk)
    return render(
        request,
        "der_registry/import.html",
        {
            "form": form,
            "columns": csv_format.COLUMNS,
            "required": csv_format.REQUIRED_COLUMNS,
        },
        status=400 if form.errors else 200,
    )


@permission_required("der_registry.import_der", raise_exception=True)
def der_import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    imp = get_object_or_404(CsvImport, pk=pk, created_by=request.user)
    if request.method == "POST":
        try:
            ids = actions.do_confirm_csv_import(request.user, "web", imp.pk)
        except actions.RegistryError as exc:
            messages.error(request, exc.issues[0].message)
            return redirect("der_registry:import_preview", pk=imp.pk)
        messages.success(request, f"Imported {len(ids)} DERs (pending approval).")
        return redirect("der_registry:list")
    return render(request, "der_registry/import_preview.html", {"imp": imp})


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(qs: QuerySet[DER]) -> Iterator[str]:
    writer = csv.DictWriter(_Echo(), fieldnames=csv_format.COLUMNS)
    yield str(writer.writeheader())
    for der in qs.prefetch_related("groups").iterator(chunk_size=2000):
        yield str(writer.writerow(csv_format.record_to_row(record_from_der(der))))


@permission_required(VIEW, raise_exception=True)
def der_export(request: HttpRequest) -> StreamingHttpResponse:
    _, qs = filtered(request)
    response = StreamingHttpResponse(_csv_lines(qs), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="der-registry-{stamp}.csv"'
    return response


@require_POST
@permission_required("der_registry.change_der", raise_exception=True)
def der_default_mode(request: HttpRequest, pk: int) -> HttpResponse:
    der = get_object_or_404(DER.objects.select_related("feeder", "replaces"), pk=pk)
    form = DefaultModeForm(request.POST, der=der)
    return _submitted(
        request,
        der,
        form,
        lambda: actions.do_set_default_mode(request.user, "web", pk, *form.settings()),
        f"Default mode of {der.name} set; its 2030.5 device reads it at its next poll.",
    )
