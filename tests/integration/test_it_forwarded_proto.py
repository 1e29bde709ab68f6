"""X-Forwarded-Proto says a request came over HTTPS only when our own reverse proxy says so: from any
other peer it is a client's claim, which would otherwise skip the HTTPS redirect and let a plain
HTTP request pass as secure."""

from __future__ import annotations

from django.test import Client, override_settings

PROXY = "10.0.0.5"
BEHIND_A_TLS_PROXY = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "CREST_TRUSTED_PROXIES": [PROXY],
}


def get_login(peer: str, **headers: str) -> int:
    return Client(REMOTE_ADDR=peer).get("/login/", headers=headers).status_code


@override_settings(**BEHIND_A_TLS_PROXY)
def test_it_believes_https_from_our_proxy_only(db: None) -> None:
    assert get_login(PROXY, x_forwarded_proto="https") == 200
    assert get_login(PROXY) == 301  # plain HTTP through the proxy: sent to HTTPS
    assert get_login("203.0.113.9", x_forwarded_proto="https") == 301  # a client's claim
    assert get_login("10.0.0.6", x_forwarded_proto="https") == 301


@override_settings(**{**BEHIND_A_TLS_PROXY, "CREST_TRUSTED_PROXIES": []})
def test_it_believes_no_one_when_no_proxy_is_trusted(db: None) -> None:
    assert get_login(PROXY, x_forwarded_proto="https") == 301
