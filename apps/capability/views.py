"""Planner pages: run a capability study on a feeder, follow it live, read and export its curve."""

from __future__ import annotations

import csv
import io
import json
from typing import TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.capability import actions, plots
from apps.capability.models import CapabilityStudy
from apps.der_registry.engine.csv_format import spreadsheet_safe
from apps.dms.models import Feeder

VIEW = "capability.view_capabilitystudy"
CSV_COLUMNS = ("series", "headroom", "q_min_kvar", "q_max_kvar", "rpfr_min_kvar", "rpfr_max_kvar", "feasible")
Number = TypeVar("Number", int, float)
EXTRA_FIELDS = ("v_tm_range", "penetration", "count", "oversize", "seed", "load_shape", "pv_shape")


def _forecast_text(request: HttpRequest) -> str:
    upload = request.FILES.get("forecast")
    if upload is None:
        return ""
    try:
        return upload.read(1_000_000).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise actions.StudyError("The forecast file is not UTF-8 text.") from None


def _number(text: str, kind: type[Number], name: str) -> Number:
    """A form field as a number, or a StudyError naming the field."""
    try:
        return kind(text.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise actions.StudyError(f"{name} must be {what}, not {text!r}.") from None


@permission_required(VIEW, raise_exception=True)
def capability_index(request: HttpRequest) -> HttpResponse:
    """Every feeder with its latest study, as the way into each feeder's study page."""
    latest = CapabilityStudy.objects.filter(feeder=OuterRef("pk")).order_by("-created_at", "-id")
    feeders = Feeder.objects.annotate(
        study_count=Count("capability_studies"), latest_id=Subquery(latest.values("pk")[:1])
    ).order_by("name")
    studies = CapabilityStudy.objects.in_bulk([f.latest_id for f in feeders if f.latest_id])
    rows = [(f, studies.get(f.latest_id)) for f in feeders]
    return render(request, "capability/index.html", {"rows": rows})


@permission_required(VIEW, raise_exception=True)
def feeder_studies(request: HttpRequest, name: str) -> HttpResponse:
    feeder = get_object_or_404(Feeder, name=name)
    shapes = actions.feeder_shapes(name)
    form = {
        "kind": "headroom",
        "headroom": "0:1:0.05",
        "v_tm": "1.0",
        "sides": "16",
        "v_tm_range": "0.85:1.2:0.05",
        "penetration": "0.9",
        "count": "100",
        "oversize": "1.1",
        "seed": "1",
        "load_shape": " ".join(f"{x:g}" for x in shapes[0]),
        "pv_shape": " ".join(f"{x:g}" for x in shapes[1]),
    }
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("capability.run_study"):
            return render(request, "403.html", status=403)
        form = {k: request.POST.get(k, v) for k, v in form.items()}
        try:
            study = actions.do_start_study(
                request.user,
                "web",
                name,
                headroom=form["headroom"],
                v_tm=_number(form["v_tm"], float, "The transmission-side voltage v_tm"),
                sides=_number(form["sides"], int, "The number of inverter polygon sides"),
                kind=form["kind"],
                extra={**{k: form[k] for k in EXTRA_FIELDS}, "forecast_csv": _forecast_text(request)},
            )
        except (actions.StudyError, ValueError) as exc:
            messages.error(request, f"Nothing was started: {exc}")
            status = 400
        else:
            return redirect("capability:study", pk=study.pk)
    studies = CapabilityStudy.objects.filter(feeder=feeder)[:50]
    return render(
        request,
        "capability/feeder_studies.html",
        {"feeder": feeder, "studies": studies, "form": form, "kinds": CapabilityStudy.Kind.choices},
        status=status,
    )


@permission_required(VIEW, raise_exception=True)
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(CapabilityStudy.objects.select_related("feeder", "feeder_version"), pk=pk)
    series = study.result.get("series") if study.result else None
    rows = plots.rpfr_rows(study.result) if study.result and not series else []
    return render(
        request,
        "capability/study.html",
        {
            "study": study,
            "rows": rows,
            "figure": (
                plots.series_figure(study.kind, study.result)
                if series
                else plots.region(study.result)
                if study.result
                else None
            ),
            "series": plots.series_rows(study.result) if series else [],
        },
    )


@require_POST
@permission_required("capability.run_study", raise_exception=True)
def study_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        actions.do_cancel_study(request.user, "web", pk)
        messages.success(request, "Study cancelled.")
    except actions.StudyError as exc:
        messages.error(request, str(exc))
    return redirect("capability:study", pk=pk)


@permission_required(VIEW, raise_exception=True)
def study_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    study = get_object_or_404(CapabilityStudy, pk=pk, status=CapabilityStudy.Status.DONE)
    if fmt not in ("csv", "json"):
        return HttpResponse("Export as csv or json.", status=404, content_type="text/plain")
    stem = f"capability-{study.feeder.name}-{study.pk}"
    if fmt == "json":
        doc = {
            "study": study.pk,
            "feeder": study.feeder.name,
            "version": study.feeder_version.number,
            "params": {k: v for k, v in study.params.items() if k != "pv_units"},
            **study.result,
            "validation": study.validation,
        }
        response = HttpResponse(json.dumps(doc, indent=1), content_type="application/json")
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in plots.flat_rows(study.result):
            cells = (row[k] for k in CSV_COLUMNS)
            writer.writerow([spreadsheet_safe(v) if isinstance(v, str) else v for v in cells])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response


@permission_required(VIEW, raise_exception=True)
def study_compare(request: HttpRequest) -> HttpResponse:
    """Two finished studies side by side: their charts and, for headroom sweeps, the differences."""
    ids = [int(i) for i in request.GET.getlist("id") if i.isdigit()]
    if len(ids) != 2:
        return _back_to_studies(request, "Tick exactly two finished studies to compare.")
    found = {
        s.pk: s
        for s in CapabilityStudy.objects.filter(
            pk__in=ids, status=CapabilityStudy.Status.DONE
        ).select_related("feeder", "feeder_version")
    }
    if len(found) != 2:
        return _back_to_studies(request, "Both studies must exist and be finished.")
    pair = [found[i] for i in ids]
    panels = [
        (
            s,
            plots.series_figure(s.kind, s.result) if s.result.get("series") else plots.region(s.result),
            f"fig-{i}",
        )
        for i, s in enumerate(pair, start=1)
    ]
    return render(
        request,
        "capability/compare.html",
        {"pair": pair, "panels": panels, "differences": plots.differences(pair[0].result, pair[1].result)},
    )


def _back_to_studies(request: HttpRequest, message: str) -> HttpResponse:
    """To the feeder's studies the compare form was on (it sends the feeder), else the index."""
    messages.error(request, message)
    feeder = request.GET.get("feeder", "")
    if Feeder.objects.filter(name=feeder).exists():
        return redirect("capability:feeder_studies", name=feeder)
    return redirect("capability:index")
