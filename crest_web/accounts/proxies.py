"""Which address a request really comes from, given the reverse proxies we trust.

X-Forwarded-For is a list each proxy appends the address it saw to, so only its right-hand end
is trustworthy: walking from the right, the first address that is not one of our proxies is the
client. Anything further left was written by that client and may be forged. Plain Python (no
Django) so the settings can validate CREST_TRUSTED_PROXIES with it at start-up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_trusted_proxies(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of CREST_TRUSTED_PROXIES entries (addresses or CIDRs); ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            example = "e.g. 10.0.0.5 or 10.0.0.0/24"
            raise ValueError(
                f"CREST_TRUSTED_PROXIES: {entry!r} is not an IP address or network ({example})"
            ) from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str, proxies: Iterable[Network]) -> bool:
    ip = _address(address)
    return ip is not None and any(ip in net for net in proxies)


def is_trusted_proxy(peer: str, proxies: Iterable[Network]) -> bool:
    """Whether the direct peer is one of our reverse proxies, whose X-Forwarded-* headers we believe."""
    return _trusted(peer, proxies)


def client_address(peer: str, forwarded_for: str, proxies: tuple[Network, ...]) -> str:
    """The client's address: the direct peer unless it is a trusted proxy, else the right-most
    X-Forwarded-For entry that is not a trusted proxy (the left-most one if all are)."""
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if _address(hop) is None:
            break  # garbage left of our proxies' entries: keep the last address a proxy vouched for
        client = hop
        if not _trusted(hop, proxies):
            break
    return client
