"""What a device's poll costs the registry (issue #16 item 11: a thousand devices poll every 20 s on
two cores, so every database round trip of a poll is paid fifty times a second). The program list
and the control list are read on every poll; with a DER's history growing by a set point per
dispatch, each must stay one read of the set points, and what they say must agree.
Seen before: the program list read the set points twice (once for its controls, once for its
curves), and a DER with no set point in the last hour took a second read to find its newest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from lxml import etree

from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.http import Request
from apps.der_registry.engine.sep2.xmlcodec import schema_problem
from apps.der_registry.models import SetPoint
from apps.der_registry.sep2_store import RegistryStore
from tests.conftest import LFDI
from tests.integration.test_it_sep2_server import issue

pytestmark = pytest.mark.django_db(transaction=True)
NS = "{urn:ieee:std:2030.5:ns}", "{http://ieee.org/2030.5}"


def _get(app: Sep2App, lfdi: str, path: str, query: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """One GET as a device sends it, answered on this thread, and the statements it ran."""
    client = app.store.identify(lfdi)
    assert client is not None
    with CaptureQueriesContext(connection) as ctx:
        reply = app.handle(lfdi, client, Request("GET", path, query or {}, {"host": "crest"}))
    assert reply.status == 200 and schema_problem(reply.body) == "", reply.body
    statements = [q["sql"] for q in ctx.captured_queries]
    return etree.fromstring(reply.body), statements


def _link_all(doc: Any, tag: str) -> int:
    link = next(e for ns in NS for e in doc.iter(f"{ns}{tag}"))
    return int(link.attrib["all"])


def _history(der_id: int, days: int, count: int = 24) -> None:
    """`count` dispatches' set points, 5 minutes apart from `days` days ago: all older than an hour
    (a sample of a long history is enough for the shape of the reads)."""
    for _ in range(count):
        issue(der_id, -1.0)
    start = timezone.now() - dt.timedelta(days=days)
    for k, sp in enumerate(SetPoint.objects.filter(der_id=der_id).order_by("id")):
        SetPoint.objects.filter(pk=sp.pk).update(issued_at=start + dt.timedelta(minutes=5 * k))


@pytest.mark.parametrize("recent", [0, 3], ids=["no set point this hour", "three this hour"])
def test_it_a_poll_reads_the_set_points_once_however_long_the_history(
    enrolled: Callable[..., Any], recent: int
) -> None:
    der = enrolled("active")
    _history(der.pk, days=2)
    for k in range(recent):
        issue(der.pk, 1.0 + k)
    app = Sep2App(RegistryStore(), poll_s=20)

    programs, read = _get(app, LFDI, f"/edev/{der.pk}/fsa/0/derp")
    # The program says how many controls its list holds, and the list holds that many.
    controls, read_list = _get(app, LFDI, f"/derp/{der.pk}/derc", {"l": "255"})
    listed = sum(1 for ns in NS for _ in controls.iter(f"{ns}DERControl"))
    assert _link_all(programs, "DERControlListLink") == listed == max(recent, 1)

    # One read of the set points for each: the program list no longer reads them twice, and the
    # newest is found in the same statement when none was issued this hour.
    assert sum("der_registry_setpoint" in s for s in read) == 1, read
    assert sum("der_registry_setpoint" in s for s in read_list) == 1, read_list
    assert len(read) <= 3, read  # the set points, the DER's own default, its groups
