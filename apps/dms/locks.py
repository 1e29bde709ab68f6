"""Interlocking (seed 002 Fig. 4, seed 000 §3.1.2): one application at a time writes a feeder.

A time-based dispatch, an event-based re-dispatch and a capability study of the same feeder take the
same per-feeder lock; different feeders have different locks and run in parallel on the Celery
workers. The lock is a Redis key with a time-to-live that a thread of the holder renews: if the holder
dies (a crashed worker, a killed process) the renewals stop and the lock expires by itself after at
most `TTL_S`, so no feeder stays locked for good. Only the holder's token can release or renew it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import redis
from django.conf import settings
from redis.lock import Lock

TTL_S = 30.0  # a crashed holder's lock is gone this long after its last renewal
RENEW_S = TTL_S / 3
WAIT_S = 300.0  # how long a task waits for a busy feeder before giving up
PREFIX = "crest:feeder-lock:"


class FeederBusy(RuntimeError):
    """The feeder's lock could not be taken in time; the message says who holds it."""


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def holder(feeder: str) -> str | None:
    """What holds `feeder`'s lock now (its description), or None when it is free."""
    value = _client().get(f"{PREFIX}{feeder}:holder")
    if isinstance(value, bytes):
        return value.decode()
    return str(value) if value else None


@contextlib.contextmanager
def feeder_lock(feeder: str, what: str, *, wait_s: float = WAIT_S, ttl_s: float = TTL_S) -> Iterator[Lock]:
    """Hold `feeder`'s lock while the block runs, renewed every ttl/3; FeederBusy after `wait_s`."""
    client = _client()
    lock = client.lock(f"{PREFIX}{feeder}", timeout=ttl_s, blocking_timeout=wait_s, thread_local=False)
    if not lock.acquire():
        raise FeederBusy(f"Feeder {feeder} is busy ({holder(feeder) or 'another application'}).")
    client.set(f"{PREFIX}{feeder}:holder", what, ex=int(ttl_s) + 1)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, client, feeder, what, ttl_s, stop), daemon=True)
    renewer.start()
    try:
        yield lock
    finally:
        stop.set()
        renewer.join()
        client.delete(f"{PREFIX}{feeder}:holder")
        with contextlib.suppress(redis.exceptions.LockError):  # expired meanwhile: nothing to free
            lock.release()


def _renew(
    lock: Lock, client: redis.Redis, feeder: str, what: str, ttl_s: float, stop: threading.Event
) -> None:
    while not stop.wait(ttl_s / 3):
        try:
            lock.reacquire()  # back to a full TTL, only if the token is still ours
            client.set(f"{PREFIX}{feeder}:holder", what, ex=int(ttl_s) + 1)
        except (redis.exceptions.LockError, redis.exceptions.ConnectionError):
            return
