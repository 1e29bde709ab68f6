"""Live events to browsers. State changes publish after commit so nobody sees a rolled-back change.

Group names are built here, from a fixed list of topics, never by string pasting at call sites.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger("crest.events")
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


_loop_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
SEND_TIMEOUT_S = 5.0


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on its own thread, for every publish: `async_to_sync` would make
    a new loop per call, and with it a new Redis connection pool (≈10 ms a publish). Keyed by pid so
    a forked worker makes its own."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="crest-events", daemon=True).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def publish_now(topic: str, event: str, payload: dict[str, Any], key: str | None = None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "crest.event", "topic": topic, "event": event, "payload": payload}
    sent = asyncio.run_coroutine_threadsafe(
        layer.group_send(group_name(topic, key), message), _publisher_loop()
    )
    try:
        sent.result(timeout=SEND_TIMEOUT_S)
    except TimeoutError:
        sent.cancel()  # not left waiting on a server that does not answer, one per publish
        raise


def publish_on_commit(topic: str, event: str, payload: dict[str, Any], key: str | None = None) -> None:
    group_name(topic, key)  # fail inside the transaction on a bad topic, not after commit
    transaction.on_commit(lambda: _publish_committed(topic, event, payload, key))


def _publish_committed(topic: str, event: str, payload: dict[str, Any], key: str | None) -> None:
    """The change is committed: a live event that cannot be sent (Redis unreachable or not
    answering) must not turn it into an error for whoever made it — they would retry and make it
    twice. Pages that missed it show the change at their next load or reconnect."""
    try:
        publish_now(topic, event, payload, key)
    except Exception as exc:  # any failure of the channel layer; the database is the record
        log.warning(
            "live event %s/%s was not sent (%s: %s); the change itself is saved",
            topic,
            event,
            type(exc).__name__,
            exc,
        )
