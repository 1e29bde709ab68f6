"""Which address a request comes from, given the reverse proxies we trust (X-Forwarded-For)."""

from __future__ import annotations

import pytest

from crest_web.accounts.proxies import client_address, parse_trusted_proxies

PROXIES = parse_trusted_proxies(("10.0.0.5", "10.1.0.0/16", "fd00::/8"))


def test_it_ignores_forwarded_addresses_from_an_untrusted_peer() -> None:
    assert client_address("203.0.113.9", "10.1.2.3", PROXIES) == "203.0.113.9"
    assert client_address("203.0.113.9", "10.1.2.3", ()) == "203.0.113.9"


def test_it_takes_the_right_most_address_that_is_not_one_of_our_proxies() -> None:
    # The client forged "10.9.9.9"; our two proxies appended the real address and each other.
    assert client_address("10.0.0.5", "10.9.9.9, 198.51.100.4, 10.1.7.7", PROXIES) == "198.51.100.4"
    assert client_address("fd00::1", "2001:db8::7", PROXIES) == "2001:db8::7"


def test_it_keeps_the_last_vouched_address_when_the_list_holds_garbage() -> None:
    assert client_address("10.0.0.5", "not-an-address, 10.1.7.7", PROXIES) == "10.1.7.7"
    assert client_address("10.0.0.5", "", PROXIES) == "10.0.0.5"


def test_it_names_a_malformed_proxy_entry() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        parse_trusted_proxies(("10.0.0.300",))
