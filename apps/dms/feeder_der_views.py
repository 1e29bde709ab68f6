"""Enrolling a DER of the feeder file from the feeder page: the registry's enrol form, filled in from
the element, its location fixed to the element's (admins only)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from apps.der_registry import actions
from apps.der_registry.forms import DERForm, initial_from_record
from apps.dms.actions import FeederError
from apps.dms.engine.feeder_ders import RATINGS_NOTE
from apps.dms.feeder_ders import enrolment_of
from apps.dms.models import Feeder

LOCATION = ("feeder", "bus", "phases")  # the element's: a DER elsewhere is another device


def _form(data: Any, initial: dict[str, Any]) -> DERForm:
    form = DERForm(data, initial=initial)
    for name in LOCATION:
        form.fields[name].disabled = True  # posted values are ignored: the element's are used
        form.fields[name].help_text = "where the element is in the feeder file"
    return form


@permission_required("der_registry.add_der", raise_exception=True)
def file_der_enroll(request: HttpRequest, name: str, element: str) -> HttpResponse:
    feeder = get_object_or_404(Feeder, name=name)
    back = reverse("dms:feeder_detail", args=[feeder.name]) + "#file-ders"
    try:
        found = enrolment_of(feeder, element)
    except FeederError as exc:  # no such element in the current version, or already enrolled
        messages.error(request, f"Nothing was enrolled: {exc}")
        return redirect(back)
    form = _form(request.POST if request.method == "POST" else None, initial_from_record(found.record))
    if request.method == "POST" and form.is_valid():
        try:
            der = actions.do_enroll_der(
                request.user, "web", form.to_record(), groups=form.group_names(), feeder_element=found.row.key
            )
        except actions.RegistryError as exc:
            form.add_issues(exc.issues)
        else:
            what = f"{found.row.label} {found.row.element.name}"
            messages.success(request, f"{der.name} enrolled (pending approval) from {what}.")
            if der.compliance_notes:
                messages.warning(request, f"IEEE 1547 compliance warnings: {der.compliance_notes}")
            return redirect(back)
    context = {
        "form": form,
        "title": f"Enroll {found.row.label} {found.row.element.name} of {feeder.name}",
        "feeder": feeder,
        "found": found,
        "ratings_note": RATINGS_NOTE,
        "back": back,
    }
    return render(request, "dms/file_der_enroll.html", context, status=400 if form.errors else 200)
