"""Login lock-out: too many failed attempts for one user name from one address locks it for a while."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(username: str, client_ip: str) -> str:
    digest = hashlib.sha256(f"{username.lower()}|{client_ip}".encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def is_locked(username: str, client_ip: str) -> bool:
    return int(cache.get(_key(username, client_ip), 0)) >= settings.LOGIN_MAX_FAILURES


def note_failure(username: str, client_ip: str) -> None:
    key = _key(username, client_ip)
    # add() only sets when absent, so the window starts at the first failure and is not extended.
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_S)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_S)


def clear(username: str, client_ip: str) -> None:
    cache.delete(_key(username, client_ip))
