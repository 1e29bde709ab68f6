"""When each IEEE 2030.5 device was last heard from (any request: a poll, a status, a mirror
reading), kept in the server's memory as requests arrive — a database write per poll would cost
more than the poll. The server's supervisor reads it to raise and clear communication alarms."""

from __future__ import annotations

import threading

MISSED_POLLS = 3  # silent for this many poll periods: communication lost


class ContactBook:
    def __init__(self) -> None:
        self._last_s: dict[int, float] = {}
        self._lock = threading.Lock()

    def heard(self, der_ids: tuple[int, ...], at_s: float) -> None:
        with self._lock:
            for der_id in der_ids:
                self._last_s[der_id] = at_s

    def last(self, der_id: int) -> float | None:
        with self._lock:
            return self._last_s.get(der_id)


# Paths whose first number is a DER's id: its EndDevice and its DERProgram. Other numbers (a mirror's,
# a usage point's) are not DER ids, even where they happen to equal one.
PER_DER_PATHS = ("/edev/", "/derp/")


def heard_from(
    path: str, path_ids: tuple[int, ...], client_der_ids: tuple[int, ...], kind: str
) -> tuple[int, ...]:
    """Which devices a request speaks for: a device's own client, every request; an aggregator's,
    the device its path names (/edev/N/…, /derp/N/…), or none for its other resources."""
    if kind == "device":
        return client_der_ids
    if not path.startswith(PER_DER_PATHS):
        return ()
    return tuple(i for i in path_ids[:1] if i in client_der_ids)


def silent(last_s: float | None, now_s: float, poll_s: float, since_s: float) -> bool:
    """No request for MISSED_POLLS poll periods (counted from `since_s` for one never heard)."""
    return now_s - (last_s if last_s is not None else since_s) > MISSED_POLLS * poll_s
