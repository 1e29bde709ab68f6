"""Enqueue a Celery task by name once the current transaction commits: the worker must find the
rows the action wrote, and nothing is queued for a transaction that rolled back."""

from __future__ import annotations

from django.db import transaction

from crest_web.celery import app


def enqueue_on_commit(name: str, *args: object) -> None:
    """Send task `name` (crest_web.task_names) with `args` after commit."""
    transaction.on_commit(lambda: app.send_task(name, args=list(args)))
