"""Which messages of an OPF run can go to their DSOs, and the marks that keep one run from being sent
twice at once: "requested" (an operator asked, the task is queued or running) and "sending" (the
exchange is on the wire). Both are Redis cache keys with a time-to-live, so a crashed worker never
blocks a run for good."""

from __future__ import annotations

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


def sendable(run: OpfRun) -> tuple[Linked, list[int]]:
    """The unanswered messages with an endpoint, and the buses without one. LinkError when nothing
    can be sent. An answer carries its message's number: an answered message is never sent again."""
    endpoints = {e.bus: e for e in DsoEndpoint.objects.all()}
    messages = list(run.messages.all())
    if not messages:
        raise LinkError(f"OPF run {run.pk} has no DSO message to send.")
    if all(m.answered_at is not None for m in messages):
        raise LinkError(f"Every DSO already answered OPF run {run.pk}; run a new OPF to send again.")
    linked = [(m, endpoints[m.bus]) for m in messages if m.bus in endpoints and m.answered_at is None]
    if not linked:
        buses = ", ".join(str(m.bus) for m in messages)
        raise LinkError(
            f"No DSO of OPF run {run.pk} has an endpoint (buses {buses}); add one in the admin "
            "(EMS › DSO endpoints)."
        )
    return linked, [m.bus for m in messages if m.bus not in endpoints]


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
