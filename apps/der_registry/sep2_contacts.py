"""When each 2030.5 device was last heard from, shared by the server's worker processes through Redis.

A worker notes every request in its own memory, as a single-process server did (a write per poll
would cost more than the poll), and pushes what it heard to one Redis sorted set every second
(ZADD GT: a later time wins, whichever worker heard it). The supervision in the parent process reads
the set before each round. A second of delay is nothing against the three poll periods after which
a device counts as silent."""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings

from apps.der_registry.engine.sep2.contact import ContactBook

log = logging.getLogger("crest.sep2")
KEY = "crest:sep2:heard"
PUSH_S = 1.0
FORGET_S = 7 * 24 * 3600.0  # a device silent this long is dropped from the set (its alarm stays)


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


class SharedContactBook(ContactBook):
    """A ContactBook whose worker side pushes to Redis and whose supervising side pulls from it."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        super().__init__()
        self._redis = client or _client()
        self._fresh: dict[int, float] = {}  # heard here since the last push
        self._fresh_lock = threading.Lock()

    def heard(self, der_ids: tuple[int, ...], at_s: float) -> None:
        super().heard(der_ids, at_s)
        with self._fresh_lock:
            for der_id in der_ids:
                self._fresh[der_id] = at_s

    def push(self) -> int:
        """Send what was heard since the last push; kept for the next one if Redis is away."""
        with self._fresh_lock:
            fresh, self._fresh = self._fresh, {}
        if not fresh:
            return 0
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(KEY, {str(k): v for k, v in fresh.items()}, gt=True)
            pipe.zremrangebyscore(KEY, "-inf", time.time() - FORGET_S)
            pipe.execute()
        except redis.RedisError:
            with self._fresh_lock:
                self._fresh = {**fresh, **self._fresh}
            raise
        return len(fresh)

    def pull(self) -> None:
        """Take in what every worker pushed (a later time than this book's wins)."""
        rows: list[tuple[bytes, float]] = self._redis.zrange(KEY, 0, -1, withscores=True)  # type: ignore[assignment]
        for member, at_s in rows:
            der_id, last = int(member), self.last(int(member))
            if last is None or at_s > last:
                ContactBook.heard(self, (der_id,), float(at_s))  # not fresh here: no push back


def push_in_background(book: SharedContactBook) -> threading.Thread:
    def loop() -> None:
        while True:
            time.sleep(PUSH_S)
            try:
                book.push()
            except redis.RedisError as exc:  # the next push carries it; supervision may lag meanwhile
                log.warning("2030.5 contacts not shared this second (Redis: %s)", exc)

    thread = threading.Thread(target=loop, name="sep2-contacts", daemon=True)
    thread.start()
    return thread
