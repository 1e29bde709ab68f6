"""The alarm pages (ISA-18.2, apps/alarms/engine/isa182.py). The operator's list: alarms that want
attention (active, or cleared and not yet acknowledged) that nobody shelved, by priority then age;
the shelved list; and the history, searchable and exportable as CSV. Operators acknowledge (with a
comment), shelve and unshelve from them; admins set the priority of each kind and the shelving
limit on the settings page."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from apps.alarms.actions import (
    AlarmError,
    do_acknowledge_alarm,
    do_acknowledge_alarms,
    do_shelve_alarm,
    do_unshelve_alarm,
    shelf_limit_minutes,
)
from apps.alarms.counts import alarm_counts
from apps.alarms.engine import isa182
from apps.alarms.models import Alarm, AlarmShelf

VIEWS = ("active", "shelved", "all")
SHELF_CHOICES_MIN = (10, 30, 60, 120, 240, 480, 720, 1440)
_RANK = Case(
    *[When(priority=p, then=Value(i)) for i, p in enumerate(isa182.PRIORITIES)],
    default=Value(len(isa182.PRIORITIES)),
    output_field=IntegerField(),
)


def _view(request: HttpRequest) -> str:
    show = request.GET.get("show") or request.POST.get("show") or "active"
    return show if show in VIEWS else "active"


def _search(request: HttpRequest, qs: QuerySet[Alarm]) -> tuple[QuerySet[Alarm], dict[str, str]]:
    """The history's filters: kind, priority, words in the source or message, a date range."""
    terms = {k: (request.GET.get(k) or "").strip() for k in ("kind", "priority", "q", "from", "to")}
    if terms["kind"] in Alarm.Kind.values:
        qs = qs.filter(kind=terms["kind"])
    if terms["priority"] in Alarm.Priority.values:
        qs = qs.filter(priority=terms["priority"])
    if terms["q"]:
        words = Q(source_label__icontains=terms["q"]) | Q(source_id__icontains=terms["q"])
        qs = qs.filter(words | Q(message__icontains=terms["q"]))
    start, end = parse_date(terms["from"]) if terms["from"] else None, None
    if terms["to"]:
        end = parse_date(terms["to"])
    if start is not None:
        qs = qs.filter(raised_at__date__gte=start)
    if end is not None:
        qs = qs.filter(raised_at__date__lte=end)
    return qs, terms


def _alarms(request: HttpRequest, show: str, now: dt.datetime) -> tuple[QuerySet[Alarm], dict[str, str]]:
    qs: QuerySet[Alarm] = Alarm.objects.select_related("acknowledged_by").with_shelf(now)
    if show == "active":  # what wants the operator: a condition that came and went still waits
        wants = Q(cleared_at__isnull=True) | Q(acknowledged_at__isnull=True)
        qs = qs.filter(wants, Q(is_shelved=False), suppressed_by="")
        return qs.order_by(F("cleared_at").desc(nulls_first=True), _RANK, "-raised_at", "-id"), {}
    if show == "shelved":
        return qs.filter(Q(is_shelved=True)).order_by(_RANK, "-raised_at", "-id"), {}
    qs, terms = _search(request, qs)
    return qs.order_by("-raised_at", "-id"), terms


@permission_required("alarms.view_alarm", raise_exception=True)
def alarm_list(request: HttpRequest) -> HttpResponseBase:
    show, now = _view(request), timezone.now()
    qs, terms = _alarms(request, show, now)
    if show == "all" and request.GET.get("format") == "csv":
        return _csv(qs)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    shelves, limit = _shelves_of(list(page), now), shelf_limit_minutes()
    context = {
        "page": page,
        "rows": [(a, shelves.get((a.kind, a.source_type, a.source_id)), a.stale(now)) for a in page],
        "show": show,
        "terms": terms,
        "query": "&".join(f"{k}={v}" for k, v in {"show": show, **terms}.items() if v),
        "kinds": Alarm.Kind.choices,
        "priorities": Alarm.Priority.choices,
        "marks": isa182.PRIORITY_MARK,
        "unacked_shown": [a.pk for a in page if a.acknowledged_at is None],
        "counts": alarm_counts(),
        "shelf_choices": [m for m in SHELF_CHOICES_MIN if m <= limit],
        "next_change_ms": _next_expiry_ms(now),
    }
    template = "alarms/_table.html" if request.GET.get("fragment") else "alarms/alarm_list.html"
    return render(request, template, context)


def _shelves_of(alarms: list[Alarm], now: dt.datetime) -> dict[tuple[str, str, str], AlarmShelf]:
    """The open shelves holding the alarms shown, by (kind, source type, source id)."""
    shelves = AlarmShelf.objects.select_related("shelved_by").filter(
        Q(until__isnull=True) | Q(until__gt=now),
        ended_at__isnull=True,
        kind__in={a.kind for a in alarms},
        source_id__in={a.source_id for a in alarms},
    )
    return {(s.kind, s.source_type, s.source_id): s for s in shelves}


def _next_expiry_ms(now: dt.datetime) -> int | str:
    """When the next timed shelf ends (its alarms return to the list): the page redraws then."""
    first = (
        AlarmShelf.objects.filter(ended_at__isnull=True, until__gt=now)
        .order_by("until")
        .values_list("until", flat=True)
        .first()
    )
    return int(first.timestamp() * 1000) if first else ""


def _csv(qs: QuerySet[Alarm]) -> StreamingHttpResponse:
    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    head = ["id", "raised_at", "priority", "kind", "source", "message", "state", "cleared_at"]
    head += ["acknowledged_by", "acknowledged_at", "ack_comment", "chattering"]

    def rows() -> Any:
        yield writer.writerow(head)
        for a in qs.iterator(chunk_size=2000):
            yield writer.writerow([
                a.pk, a.raised_at.isoformat(), a.priority, a.kind, a.source_label or a.source_id,
                a.message, a.state.value, a.cleared_at.isoformat() if a.cleared_at else "",
                a.acknowledged_by.username if a.acknowledged_by else "",
                a.acknowledged_at.isoformat() if a.acknowledged_at else "", a.ack_comment, a.chattering,
            ])  # fmt: skip

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="alarm-history.csv"'
    return response


def _back(request: HttpRequest) -> HttpResponse:
    return redirect(f"/alarms/?show={_view(request)}")


def _described(alarm: Alarm) -> str:
    return f"{alarm.get_kind_display()}, {alarm.source_label or f'{alarm.source_type} {alarm.source_id}'}"


@require_POST
@permission_required("alarms.acknowledge_alarm", raise_exception=True)
def alarm_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        alarm = do_acknowledge_alarm(request.user, "web", pk, request.POST.get("comment", ""))
    except AlarmError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Alarm {alarm.pk} acknowledged: {_described(alarm)}.")
    return _back(request)


@require_POST
@permission_required("alarms.shelve_alarm", raise_exception=True)
def alarm_shelve(request: HttpRequest, pk: int) -> HttpResponse:
    raw = request.POST.get("minutes", "")
    try:
        minutes = None if raw in ("", "one-shot") else float(raw)
    except ValueError:
        messages.error(request, f"Nothing was shelved: {raw!r} is not a number of minutes.")
        return _back(request)
    try:
        shelf = do_shelve_alarm(request.user, "web", pk, minutes, request.POST.get("comment", ""))
    except AlarmError as exc:
        messages.error(request, f"Nothing was shelved: {exc}")
    else:
        until = "until it clears" if shelf.until is None else f"until {shelf.until:%H:%M:%S} UTC"
        messages.success(request, f"Alarm {pk} shelved {until}.")
    return _back(request)


@require_POST
@permission_required("alarms.shelve_alarm", raise_exception=True)
def alarm_unshelve(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        alarm = do_unshelve_alarm(request.user, "web", pk)
    except AlarmError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Alarm {alarm.pk} is back on the list: {_described(alarm)}.")
    return _back(request)


@require_POST
@permission_required("alarms.acknowledge_alarm", raise_exception=True)
def alarm_acknowledge_all(request: HttpRequest) -> HttpResponse:
    """Acknowledge the unacknowledged alarms the operator's page showed (their ids come with the
    form), not whatever was raised since."""
    raw = request.POST.getlist("id")
    if not raw or len(raw) > 500 or not all(i.isdigit() for i in raw):
        messages.error(request, "Nothing was acknowledged: the list of alarms sent was empty or not valid.")
        return _back(request)
    try:
        done, already = do_acknowledge_alarms(request.user, "web", [int(i) for i in raw])
    except AlarmError as exc:
        messages.error(request, str(exc))
    else:
        text = f"{len(done)} alarm{'' if len(done) == 1 else 's'} acknowledged."
        if already:
            text += f" {already} had already been acknowledged by someone else."
        messages.success(request, text)
    return _back(request)
