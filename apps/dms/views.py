"""Feeder pages: list, detail with plots (engine selectable), import upload."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from apps.dms import plots
from apps.dms.actions import FeederError, do_import_feeder
from apps.dms.dispatched_state import latest_dispatched
from apps.dms.engine import opendss_pf
from apps.dms.engine.feeder_ders import RATINGS_NOTE
from apps.dms.engine.network import FeederImportError
from apps.dms.engine.studies import ENGINES, run_powerflow
from apps.dms.feeder_ders import file_ders
from apps.dms.feeders import network_of, unpack_upload
from apps.dms.models import Feeder

VIEW = "dms.view_feeder"


@permission_required(VIEW, raise_exception=True)
def feeder_list(request: HttpRequest) -> HttpResponse:
    feeders = Feeder.objects.annotate(der_count=Count("ders")).order_by("name")
    return render(request, "dms/feeder_list.html", {"rows": [(f, f.current_version()) for f in feeders]})


@permission_required(VIEW, raise_exception=True)
def feeder_detail(request: HttpRequest, name: str) -> HttpResponse:
    feeder = get_object_or_404(Feeder, name=name)
    version = feeder.current_version()
    engine = request.GET.get("engine", "lindist3flow")
    context: dict[str, object] = {
        "feeder": feeder,
        "version": version,
        "engine": engine,
        "engines": ENGINES,
        "versions": feeder.versions.all(),
        "ratings_note": RATINGS_NOTE,  # how enrolling a DER of the file fills in its ratings
    }
    if engine not in ENGINES:
        context["error"] = f"Unknown engine {engine!r}; choose {' or '.join(ENGINES)}."
    elif version is not None:
        try:
            net = network_of(version)
            context["file_ders"] = file_ders(feeder, net)
            shown = None if request.GET.get("state") == "base" else latest_dispatched(feeder, version, net)
            if shown is not None:  # what the last dispatch left, by default; the base case one click away
                result = opendss_pf.solve(shown.net, shown.state)
                context.update(dispatched=shown, engine="opendss")
            else:
                result = run_powerflow(net, engine)
        except (FeederError, FeederImportError) as exc:
            context["error"] = str(exc)
        else:
            context.update(
                result=result,
                figures={"map": plots.one_line(net, result), "profile": plots.voltage_profile(net, result)},
                v_min=min(result.voltages_pu.values()),
                v_max=max(result.voltages_pu.values()),
                violations=sorted(
                    k for k, v in result.voltages_pu.items() if not plots.V_MIN_PU <= v <= plots.V_MAX_PU
                ),
            )
    return render(request, "dms/feeder_detail.html", context)


class FeederImportForm(forms.Form):
    name = forms.SlugField(max_length=64, help_text="lower-case, e.g. ieee123 or north-7")
    description = forms.CharField(max_length=200, required=False)
    file = forms.FileField(help_text="the master .dss file, or a .zip of the feeder's folder")
    master = forms.CharField(
        required=False,
        max_length=200,
        help_text="in a .zip: the master file's name (optional when there is one .dss)",
    )


@permission_required("dms.add_feeder", raise_exception=True)
def feeder_import(request: HttpRequest) -> HttpResponse:
    form = FeederImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with tempfile.TemporaryDirectory(prefix="crest-feeder-") as tmp:
            try:
                master, root = unpack_upload(
                    form.cleaned_data["file"], form.cleaned_data["master"], Path(tmp)
                )
                version = do_import_feeder(
                    request.user,
                    "web",
                    master,
                    form.cleaned_data["name"],
                    form.cleaned_data["description"],
                    upload_root=root,
                )
            except FeederError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Imported {version.feeder.name} as version {version.number}.")
                return redirect("dms:feeder_detail", name=version.feeder.name)
    return render(request, "dms/feeder_import.html", {"form": form}, status=400 if form.errors else 200)
