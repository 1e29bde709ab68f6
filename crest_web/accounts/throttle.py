"""Sign-in lock-out, one for every sign-in path: the authentication backend consults it.

Two counts, each over a window that starts at the first failure (LOGIN_LOCKOUT_S):
* one user name from one client address: LOGIN_MAX_FAILURES locks that pair, so an attacker
  elsewhere does not lock the person out at their own desk;
* one user name from anywhere: LOGIN_MAX_ACCOUNT_FAILURES locks the account, so an attacker who
  rotates addresses still gets only that many guesses.
An admin resetting the password lifts both: a new epoch for the user name orphans the old counts.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from crest_web.accounts.proxies import client_address, parse_trusted_proxies

Lock = Literal["", "address", "account"]


def request_address(request: HttpRequest | None) -> str:
    """The client's address: the direct peer, or what our trusted proxies say (CREST_TRUSTED_PROXIES)."""
    if request is None:
        return ""
    proxies = parse_trusted_proxies(tuple(settings.CREST_TRUSTED_PROXIES))
    peer = str(request.META.get("REMOTE_ADDR", ""))
    return client_address(peer, str(request.META.get("HTTP_X_FORWARDED_FOR", "")), proxies)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _epoch_key(name: str) -> str:
    return f"login-failures-epoch:{_digest(name)}"


def _keys(username: str, address: str) -> tuple[str, str]:
    """(key of the user name from this address, key of the user name from anywhere)."""
    name = username.lower()
    epoch = int(cache.get(_epoch_key(name), 0))
    return (
        f"login-failures:{epoch}:pair:{_digest(f'{name}|{address}')}",
        f"login-failures:{epoch}:user:{_digest(name)}",
    )


def lock_state(username: str, address: str) -> Lock:
    """Why sign-in is refused for this user name from this address, or '' when it is not."""
    pair_key, user_key = _keys(username, address)
    counts = cache.get_many([pair_key, user_key])
    if int(counts.get(user_key, 0)) >= settings.LOGIN_MAX_ACCOUNT_FAILURES:
        return "account"
    if int(counts.get(pair_key, 0)) >= settings.LOGIN_MAX_FAILURES:
        return "address"
    return ""


def _count(key: str) -> None:
    # add() only sets when absent, so the window starts at the first failure and is not extended.
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_S)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_S)


def note_failure(username: str, address: str) -> None:
    for key in _keys(username, address):
        _count(key)


def clear(username: str, address: str) -> None:
    """A successful sign-in forgets that address's failures; the account's count runs its window."""
    cache.delete(_keys(username, address)[0])


def unlock(username: str) -> None:
    """Lift every lock-out of this user name (an admin reset its password)."""
    key = _epoch_key(username.lower())
    cache.add(key, 0, timeout=None)
    cache.incr(key)
