"""EMS runs pages: stored volt/var OPF runs with their EMS→DMS messages and what each DSO answered;
operators run a new OPF (do_run_opf) and send a run to the DSOs (do_request_send → Celery)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from apps.ems.actions import OpfError, do_request_send, do_run_opf, registered_dsos
from apps.ems.engine.case import CASES, DEFAULT_CASE
from apps.ems.engine.dso import DSO_SYNTAX, DsoInterface, format_dso, parse_dso
from apps.ems.models import DsoEndpoint, OpfRun
from apps.ems.sending import LinkError, marked, sendable
from apps.ems.views import SEED_SCENARIO, lines

VIEW = "ems.view_opfrun"
RUN = "ems.add_opfrun"
SEND = "ems.change_dsomessage"  # sending records the DMS's answer on each message
PER_PAGE = 20
# Messages the DMS answered short (or with violations left), and counting other feeders than the run.
SHORT = Q(messages__dms_q_shortfall_kvar__gt=0) | Q(messages__dms_violations_left__gt=0)
MISMATCHED = Q(messages__dms_feeder_count__lt=F("messages__count")) | Q(
    messages__dms_feeder_count__gt=F("messages__count")
)


class OpfForm(forms.Form):
    case = forms.ChoiceField(choices=[(c, c) for c in CASES], initial=DEFAULT_CASE)
    dsos = forms.CharField(
        label=f"DSO interfaces {DSO_SYNTAX} (one per line)",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,  # clean_dsos says what to write
    )
    outages = forms.CharField(
        label="Outages FROM-TO (one per line)", widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    def clean_dsos(self) -> list[DsoInterface]:
        texts = lines(self.cleaned_data["dsos"])
        if not texts:
            raise forms.ValidationError(
                f"Give at least one DSO interface, e.g. 9x25:-700:700 ({DSO_SYNTAX})."
            )
        try:
            return [parse_dso(t) for t in texts]
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_outages(self) -> list[str]:
        return lines(self.cleaned_data["outages"])


def default_dsos() -> str:
    """The form's DSO lines: the registered interfaces with their last reported ranges; seed 004's
    T-D system while no DSO is registered (a study: nothing of it can be sent)."""
    registered = registered_dsos()
    return "\n".join(format_dso(d) for d in registered) if registered else SEED_SCENARIO["dsos"]


def exchange_summary(
    total: int, sent: int, answered: int, errors: int, short: int = 0, mismatched: int = 0
) -> str:
    """One run's exchange in a few words, e.g. "3 sent, 2 answered, 1 error, 1 short"."""
    if not (sent or answered or errors):
        return "not sent"
    text = f"{sent} sent, {answered} answered"
    if errors:
        text += f", {errors} error{'s' if errors > 1 else ''}"
    if sent + errors < total:
        text += f", {total - sent - errors} not sent"
    if short:
        text += f", {short} short"
    if mismatched:
        text += f", {mismatched} count mismatch{'es' if mismatched > 1 else ''}"
    return text


@permission_required(VIEW, raise_exception=True)
def runs_page(request: HttpRequest) -> HttpResponse:
    form = OpfForm(request.POST or None, initial={"dsos": default_dsos()})
    if request.method == "POST":
        if not request.user.has_perm(RUN):
            raise PermissionDenied("Only operators and admins run the volt/var OPF.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = do_run_opf(request.user, "web", data["case"], data["dsos"], data["outages"])
            except OpfError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"OPF run {run.pk} stored with {len(data['dsos'])} DSO messages.")
                return redirect("ems_run_detail", pk=run.pk)
    runs = (
        OpfRun.objects.select_related("created_by")
        .annotate(
            dso_count=Count("messages"),
            sent=Count("messages", filter=Q(messages__sent_at__isnull=False)),
            answered=Count("messages", filter=Q(messages__answered_at__isnull=False)),
            errors=Count("messages", filter=~Q(messages__send_error="")),
            short=Count("messages", filter=SHORT),
            mismatched=Count("messages", filter=MISMATCHED),
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(runs, PER_PAGE).get_page(request.GET.get("page"))
    for run in page:
        counts = [getattr(run, k) for k in ("dso_count", "sent", "answered", "errors", "short", "mismatched")]
        run.exchange = exchange_summary(*counts)  # type: ignore[attr-defined]
    context = {
        "form": form,
        "page": page,
        "can_run": request.user.has_perm(RUN),
        "dso_syntax": DSO_SYNTAX,
        "interfaces": DsoEndpoint.objects.all(),
    }
    return render(request, "ems/runs.html", context, status=400 if form.errors else 200)


def _detail(request: HttpRequest, run: OpfRun, error: str = "") -> HttpResponse:
    endpoints = {e.bus: e for e in DsoEndpoint.objects.all()}
    rows = [{"m": m, "endpoint": endpoints.get(m.bus)} for m in run.messages.all()]
    blocked, skipped = "", []
    try:
        plan = sendable(run)
        skipped = [f"bus {b} has no DSO endpoint" for b in plan.no_endpoint] + plan.mismatched
    except LinkError as exc:
        blocked = str(exc)
    context: dict[str, Any] = {
        "run": run,
        "rows": rows,
        "error": error,
        "blocked": blocked,
        "skipped": skipped,  # sending goes ahead without these
        "sending": marked("requested", run.pk) or marked("sending", run.pk),
        "can_send": request.user.has_perm(SEND),
        "outages": run.inputs.get("outages", []),
    }
    return render(request, "ems/run_detail.html", context, status=400 if error else 200)


@permission_required(VIEW, raise_exception=True)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, get_object_or_404(OpfRun.objects.select_related("created_by"), pk=pk))


@permission_required(VIEW, raise_exception=True)
def run_send(request: HttpRequest, pk: int) -> HttpResponse:
    """POST: queue the sending of the run's unanswered messages; refused with the reason on the page."""
    run = get_object_or_404(OpfRun.objects.select_related("created_by"), pk=pk)
    if request.method != "POST":
        return redirect("ems_run_detail", pk=run.pk)
    if not request.user.has_perm(SEND):
        raise PermissionDenied("Only operators and admins send OPF runs to the DSOs.")
    try:
        do_request_send(request.user, "web", run.pk)
    except LinkError as exc:
        return _detail(request, run, f"Not sent: {exc}")
    messages.success(request, f"OPF run {run.pk} is being sent to its DSOs; their answers appear below.")
    return redirect("ems_run_detail", pk=run.pk)
