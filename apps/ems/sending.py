"""Which messages of an OPF run can go to their DSOs, and the marks that keep one run from being sent
twice at once: "requested" (an operator asked, the task is queued or running) and "sending" (the
exchange is on the wire). Both are Redis cache keys with a time-to-live, so a crashed worker never
blocks a run for good."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.ems.models import DsoEndpoint, DsoMessage, OpfRun

CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 180.0  # within the 5-minute cycle (DESIGN.md §2)
MARK_TTL_S = int(CONNECT_TIMEOUT_S + ANSWER_TIMEOUT_S + 60)

Linked = list[tuple[DsoMessage, DsoEndpoint]]


class LinkError(ValueError):
    """A DSO endpoint or exchange refused; the message says why in plain words."""


@dataclass(frozen=True)
class Plan:
    """What of a run goes to which DSO, and what does not, with the reason."""

    linked: Linked  # unanswered messages whose bus has an interface with the same feeder count
    no_endpoint: list[int]  # buses of unanswered messages without a registered interface
    mismatched: list[str]  # why an unanswered message's count is not its interface's
    answered: list[str]  # "bus 5 (ieee123)": answered already, never sent again


def _buses(items: list[str], one: str, many: str) -> str:
    return f"bus {items[0]} {one}" if len(items) == 1 else f"buses {', '.join(items)} {many}"


def sendable(run: OpfRun) -> Plan:
    """The unanswered messages that can go to their DSO, and why the others cannot. LinkError saying
    all of it when nothing can be sent. An answer carries its message's number: an answered message
    is never sent again; a message counting other feeders than its registered interface is not sent."""
    endpoints = {e.bus: e for e in DsoEndpoint.objects.all()}
    messages = list(run.messages.all())
    if not messages:
        raise LinkError(f"OPF run {run.pk} has no DSO message to send.")
    if all(m.answered_at is not None for m in messages):
        raise LinkError(f"Every DSO already answered OPF run {run.pk}; run a new OPF to send again.")
    answered = [
        f"{m.bus} ({endpoints[m.bus].name})" if m.bus in endpoints else str(m.bus)
        for m in messages
        if m.answered_at is not None
    ]
    waiting = [m for m in messages if m.answered_at is None]
    no_endpoint = [m.bus for m in waiting if m.bus not in endpoints]
    mismatched = [
        f"bus {m.bus}: the run counted {m.count} feeders, its interface {endpoints[m.bus].name} is "
        f"registered with {endpoints[m.bus].feeder_count}; run a new OPF"
        for m in waiting
        if m.bus in endpoints and m.count != endpoints[m.bus].feeder_count
    ]
    linked = [(m, endpoints[m.bus]) for m in waiting if m.bus in endpoints]
    linked = [(m, e) for m, e in linked if m.count == e.feeder_count]
    plan = Plan(linked, no_endpoint, mismatched, answered)
    if not linked:
        raise LinkError(_nothing_to_send(run, plan, len(messages)))
    return plan


def _nothing_to_send(run: OpfRun, plan: Plan, total: int) -> str:
    admin = "admins register DSOs on EMS › DSO interfaces"
    if len(plan.no_endpoint) == total:
        buses = ", ".join(str(b) for b in plan.no_endpoint)
        return f"No DSO of OPF run {run.pk} has an endpoint (buses {buses}); {admin}."
    parts = []
    if plan.answered:
        parts.append(_buses(plan.answered, "answered already", "answered already"))
    if plan.no_endpoint:
        no_endpoint = [str(b) for b in plan.no_endpoint]
        parts.append(_buses(no_endpoint, "has no DSO endpoint", "have no DSO endpoint") + f" ({admin})")
    parts += plan.mismatched
    return f"Nothing of OPF run {run.pk} is left to send: {'; '.join(parts)}."


def configured_tls_dir() -> Path | None:
    """The master's TLS files for the DSOs marked TLS, when sending from the UI (CREST_EMS_TLS_DIR)."""
    folder: str = settings.CREST_EMS_TLS_DIR
    return Path(folder) if folder else None


def check_tls(linked: Linked, folder: Path | None, where: str) -> None:
    if any(e.tls for _, e in linked) and folder is None:
        raise LinkError(f"A DSO is marked DNP3 over TLS: {where} with the master's certificate.")


def _key(kind: str, run_id: int) -> str:
    # The database's name keeps two installations (or test sessions) on one Redis apart.
    return f"ems-send:{connection.settings_dict['NAME']}:{kind}:{run_id}"


def mark(kind: str, run_id: int) -> bool:
    """Set the mark; False when it is already set (someone else holds it)."""
    return bool(cache.add(_key(kind, run_id), "1", MARK_TTL_S))


def marked(kind: str, run_id: int) -> bool:
    return cache.get(_key(kind, run_id)) is not None


def unmark(kind: str, run_id: int) -> None:
    cache.delete(_key(kind, run_id))
