"""Live events to browsers. State changes publish after commit so nobody sees a rolled-back change.

Group names are built here, from a fixed list of topics, never by string pasting at call sites.
"""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

TOPICS = frozenset({"registry", "alarms", "cycle", "studies"})
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")


def group_name(topic: str, key: str | None = None) -> str:
    """Channels group for a topic, optionally narrowed to one object (e.g. a feeder id)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}; known: {', '.join(sorted(TOPICS))}")
    if key is None:
        return f"crest.{topic}"
    if not _KEY.match(key):
        raise ValueError(f"event key {key!r} may hold only letters, digits, '_', '.', '-'")
    return f"crest.{topic}.{key}"


def publish_now(topic: str, event: str, payload: dict[str, Any], key: str | None = None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "crest.event", "topic": topic, "event": event, "payload": payload}
    async_to_sync(layer.group_send)(group_name(topic, key), message)


def publish_on_commit(topic: str, event: str, payload: dict[str, Any], key: str | None = None) -> None:
    group_name(topic, key)  # fail inside the transaction on a bad topic, not after commit
    transaction.on_commit(lambda: publish_now(topic, event, payload, key))
