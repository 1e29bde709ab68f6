"""A JSON body nested 100,000 deep gets a 400 naming the problem on every JSON endpoint, not a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.capability.models import CapabilityStudy
from apps.der_registry.models import DER
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "url", ["/api/capability-studies/", "/api/ders/", "/api/ems/whatif/", "/api/ems/opf/"]
)
def test_it_refuses_a_deeply_nested_body_and_stores_nothing(
    admin_client: Client, ieee13: Any, url: str
) -> None:
    audited = AuditRecord.objects.count()  # every stored change writes one
    for body in (DEEP, f'{{"feeder": "ieee13", "headroom": {DEEP}}}'):
        response = admin_client.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content[:200]
        assert "JSON too deeply nested" in as_json(response)["detail"]
    assert AuditRecord.objects.count() == audited
    assert not CapabilityStudy.objects.exists() and not DER.objects.exists()


def test_it_still_reads_an_ordinary_nested_body(admin_client: Client, ieee13: Any) -> None:
    body = '{"feeder": "ieee13", "headroom": "0:1:0.5", "extra": ' + "[" * 20 + "]" * 20 + "}"
    response = admin_client.post("/api/capability-studies/", body, content_type="application/json")
    assert response.status_code == 400 and "no active DERs" in response.content.decode()


def test_brackets_inside_strings_do_not_count_towards_the_depth() -> None:
    from crest_web.parsers import MAX_JSON_DEPTH, json_depth_exceeds

    assert json_depth_exceeds(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert not json_depth_exceeds(b'{"note": "' + b"[" * 1000 + b'\\" {{{", "n": [1, 2]}')
