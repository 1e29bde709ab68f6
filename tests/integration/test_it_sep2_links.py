"""Every link the 2030.5 server hands out resolves (issue #16 item 5). Seen with the EPRI reference
client: its alarm test followed the Location of the LogEvent it had posted (/edev/N/lel/1) and got
404, and its self test stopped at "no SelfDevice in DeviceCapability". A device here posts a
LogEvent, a Subscription, a Response and a mirror, reports its DER resources, and then every href
and Location it was given — walked from /dcap — answers 200 with a document valid against sep.xsd."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from apps.der_registry import actions
from apps.der_registry.engine.sep2.resources import KIND_CONTROL, mrid
from apps.der_registry.engine.sep2.simulator import der_status_doc, mirror_doc, response_doc
from apps.der_registry.engine.sep2.xmlcodec import schema_problem
from tests.integration.test_it_sep2_server import (  # noqa: F401
    Pki,
    connect,
    log_event_doc,
    pki,
    run,
    server,
    subscription_doc,
)

pytestmark = pytest.mark.django_db(transaction=True)
HREF = re.compile(rb'(?:href|replyTo)="(/[^"?]*)"')


def test_every_href_and_location_resolves(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    setpoint = actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=1.0)
    curve = {"curve": [[0.92, 0.44], [1.08, -0.44]]}  # the DefaultDERControl then links its DERCurve
    actions.do_set_default_mode(None, "system", der.pk, "volt_var", curve)
    event = log_event_doc()
    subscription = subscription_doc(f"/derp/{der.pk}/derc", "https://127.0.0.1:9/notify")

    async def session() -> dict[str, int]:
        conn = connect(server, pki.ca, pki.device)
        edev = f"/edev/{der.pk}"
        locations = [
            (await conn.post(f"{edev}/lel", event)).headers["location"],
            (await conn.post(f"{edev}/sub", subscription)).headers["location"],
            (
                await conn.post("/rsps/0/rsp", response_doc(der.lfdi, mrid(KIND_CONTROL, setpoint.pk), 1))
            ).headers["location"],
            (await conn.post("/mup", mirror_doc(der.lfdi))).headers["location"],
        ]
        for kind in ("ders",):
            assert (await conn.put(f"{edev}/der/0/{kind}", der_status_doc())).status == 204
        seen: dict[str, int] = {}
        todo = ["/dcap", *locations]
        while todo and len(seen) < 200:
            path = todo.pop()
            if path in seen:
                continue
            answer = await conn.get(path)
            seen[path] = answer.status
            if answer.status == 200:
                assert schema_problem(answer.body) == "", (path, schema_problem(answer.body))
                todo += [m.decode() for m in HREF.findall(answer.body)]
        await conn.close()
        return seen

    seen = run(session())
    # DER resources the device has not reported yet are 404 by design ("not reported yet").
    unreported = {f"/edev/{der.pk}/der/0/{k}" for k in ("dercap", "derg", "dera")}
    broken = {p: s for p, s in seen.items() if s != 200 and p not in unreported}
    assert not broken, broken
    for must in (
        "/sdev",
        "/rsps/0",
        f"/edev/{der.pk}/lel/",
        f"/edev/{der.pk}/sub/",
        "/rsps/0/rsp/",
        "/mup/",
        "/upt/",
        f"/derp/{der.pk}/dc/1",
    ):
        assert any(p.startswith(must) for p in seen), must
