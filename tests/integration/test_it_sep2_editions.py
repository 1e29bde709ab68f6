"""IEEE 2030.5-2018/2023 clients (issue #16 item 1). Seen before: the server spoke only the 2013
namespace, and a document in `urn:ieee:std:2030.5:ns` was refused ("The root element must be in the
2030.5 namespace http://ieee.org/2030.5"). Now each client is answered in the edition it speaks: a
device the registry lists as 2018 walks the whole tree in the 2018 namespace, every answer valid
against IEEE's 2018/2023 schema; a device that writes a 2018 document is read and from then on
answered in 2018; 2013 clients are unchanged (the other sep2 tests, EPRI's client)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from apps.der_registry import actions
from apps.der_registry.engine.sep2.client import Answer, Sep2Connection
from apps.der_registry.engine.sep2.editions import NS_2013, NS_2018
from apps.der_registry.engine.sep2.http import Reply, read_request, render
from apps.der_registry.engine.sep2.resources import KIND_CONTROL, mrid
from apps.der_registry.engine.sep2.server import server_context
from apps.der_registry.engine.sep2.simulator import der_status_doc, mirror_doc, response_doc
from apps.der_registry.engine.sep2.xmlcodec import schema_problem, to_bytes
from apps.der_registry.models import DER, SetPoint
from crest_web.accounts.models import AuditRecord
from tests.engine.test_sep2_editions import CAPABILITY_2018
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


def in_2018(doc: Any) -> bytes:
    """A document with no element the editions renamed, written in the 2018 namespace; checked against
    IEEE's schema here, so what the server gets is a genuine 2018 document."""
    body = to_bytes(doc).replace(NS_2013.encode(), NS_2018.encode())
    assert schema_problem(body) == "", body
    return body


def root_namespace(body: bytes) -> str:
    return str(etree.QName(etree.fromstring(body)).namespace)


async def send(conn: Sep2Connection, method: str, path: str, body: bytes) -> Answer:
    return await conn.request(method, path, body)


def test_it_a_2018_device_walks_every_resource_in_its_edition(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    modes = ("active_reactive", "volt_var", "constant_pf")
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi, supported_modes=modes)
    DER.objects.filter(pk=der.pk).update(sep2_edition="2018")  # as an admin sets it at enrolment
    setpoint = actions.do_issue_setpoint(
        None, "system", der.pk, control_mode="constant_pf", params={"pf": -0.9}, p_limit_kw=3.0
    )
    edev = f"/edev/{der.pk}"

    async def session() -> tuple[dict[str, int], dict[str, bytes]]:
        conn = connect(server, pki.ca, pki.device)
        posted = [
            (f"{edev}/lel", in_2018(log_event_doc())),
            (f"{edev}/sub", in_2018(subscription_doc(f"/derp/{der.pk}/derc", "https://127.0.0.1:9/n"))),
            ("/rsps/0/rsp", in_2018(response_doc(der.lfdi, mrid(KIND_CONTROL, setpoint.pk), 1))),
            ("/mup", in_2018(mirror_doc(der.lfdi))),
        ]
        locations = [(await send(conn, "POST", path, body)).headers["location"] for path, body in posted]
        assert (await send(conn, "PUT", f"{edev}/der/0/ders", in_2018(der_status_doc()))).status == 204
        seen: dict[str, int] = {}
        bodies: dict[str, bytes] = {}
        todo = ["/dcap", *locations]
        while todo and len(seen) < 200:
            path = todo.pop()
            if path in seen:
                continue
            answer = await conn.get(path)
            seen[path], bodies[path] = answer.status, answer.body
            if answer.status == 200:
                todo += [m.decode() for m in HREF.findall(answer.body)]
        await conn.close()
        return seen, bodies

    seen, bodies = run(session())
    unreported = {f"{edev}/der/0/{k}" for k in ("dercap", "derg", "dera")}
    assert {p: s for p, s in seen.items() if s != 200 and p not in unreported} == {}
    assert len(seen) > 20
    for path, body in bodies.items():
        assert root_namespace(body) == NS_2018, path  # 404s too: an Error in the client's edition
        assert schema_problem(body) == "", (path, schema_problem(body))
    control = etree.fromstring(bodies[f"/derp/{der.pk}/derc/{setpoint.pk}"])
    pf = control.find(f".//{{{NS_2018}}}opModFixedPFInjectW")
    assert [c.text for c in pf] == ["90", "true", "-2"]  # absorbing vars: under-excited


CAPABILITY = CAPABILITY_2018.decode()
SETTINGS_2018 = f"""<DERSettings xmlns="{NS_2018}"><setGradW>100</setGradW>
<setMaxW><multiplier>0</multiplier><value>9000</value></setMaxW>
<setMinPFOverExcited><displacement>85</displacement><multiplier>-2</multiplier></setMinPFOverExcited>
<setVNom><multiplier>0</multiplier><value>240</value></setVNom><updatedTime>1780000000</updatedTime>
</DERSettings>""".encode()


def test_it_reads_a_2018_device_s_reports_and_answers_it_in_2018_from_then_on(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    assert der.sep2_edition == "2013"
    assert schema_problem(SETTINGS_2018) == ""

    async def session() -> list[Answer]:
        conn = connect(server, pki.ca, pki.device)
        first = await conn.get("/dcap")
        answers = [
            first,
            await send(conn, "PUT", f"/edev/{der.pk}/der/0/dercap", CAPABILITY.encode()),
            await send(conn, "PUT", f"/edev/{der.pk}/der/0/derg", SETTINGS_2018),
            await conn.get("/dcap"),
            await conn.get(f"/edev/{der.pk}/der/0/dercap"),
            await conn.get(f"/edev/{der.pk}/der/0/derg"),
        ]
        await conn.close()
        return answers

    before, cap, settings, dcap, cap_back, settings_back = run(session())
    assert root_namespace(before.body) == NS_2013
    assert (cap.status, settings.status) == (204, 204), (cap.body, settings.body)
    der.refresh_from_db()
    assert (der.np_active_power_kw, der.np_apparent_power_kva, der.cfg_active_power_kw) == (12.0, 12.0, 9.0)
    assert der.sep2_edition == "2018"
    assert AuditRecord.objects.filter(action="sep2.edition", object_id=str(der.pk)).exists()
    for answer in (dcap, cap_back, settings_back):
        assert root_namespace(answer.body) == NS_2018 and schema_problem(answer.body) == ""
    # Served back as the device wrote it, the 2018-only fields included.
    assert b"rtgVNom" in cap_back.body and b"setVNom" in settings_back.body


def test_it_notifies_a_2018_subscriber_in_2018(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    folder = pki.ca.cert.parent
    receiver_ctx = server_context(folder / "server.crt", folder / "server.key", pki.ca.cert)

    async def session() -> bytes:
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            req = await read_request(reader)
            writer.write(render(Reply(204), keep_alive=False))
            await writer.drain()
            writer.close()
            if req is not None:
                await received.put(req.body)

        endpoint = await asyncio.start_server(receive, "127.0.0.1", 0, ssl=receiver_ctx)
        port = endpoint.sockets[0].getsockname()[1]
        conn = connect(server, pki.ca, pki.device)
        doc = in_2018(subscription_doc(f"/derp/{der.pk}/derc", f"https://127.0.0.1:{port}/notify"))
        assert (await send(conn, "POST", f"/edev/{der.pk}/sub", doc)).status == 201
        await conn.close()
        await asyncio.sleep(0.5)  # the notifier has looked once: only set points from now on count
        await asyncio.to_thread(
            actions.do_issue_setpoint, None, "system", der.pk, control_mode="active_reactive", q_kvar=1.0
        )
        body = await asyncio.wait_for(received.get(), 20)
        endpoint.close()
        return body

    body = run(session())
    assert root_namespace(body) == NS_2018 and schema_problem(body) == ""
    assert mrid(KIND_CONTROL, SetPoint.objects.get(der=der).pk).encode() in body


def test_it_serves_the_volt_var_curve_under_each_edition_s_number_for_it(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    """The editions number DERCurveType differently: volt-var is 0 in 2013 and 11 in 2018/2023.
    Seen before: a 2013 device was told its volt-var curve was type 11 (reserved in 2013)."""
    curve = {"curve": [[0.92, 0.44], [0.98, 0.0], [1.02, 0.0], [1.08, -0.44]]}
    modes = ("active_reactive", "volt_var")
    old, new = pki.members[0], pki.members[1]
    ders = [
        enrolled(
            "active",
            name=f"pv-{i}",
            serial_number=f"SN-VV-{i}",
            lfdi=who.lfdi,
            sfdi=who.sfdi,
            supported_modes=modes,
        )
        for i, who in enumerate((old, new))
    ]
    DER.objects.filter(pk__in=[d.pk for d in ders]).update(default_mode="volt_var", mode_params=curve)
    DER.objects.filter(pk=ders[1].pk).update(sep2_edition="2018")

    async def curves(who: Any, der_id: int) -> bytes:
        conn = connect(server, pki.ca, who)
        answer = await conn.get(f"/derp/{der_id}/dc")
        await conn.close()
        assert answer.status == 200 and schema_problem(answer.body) == "", answer.body
        return answer.body

    for who, der, ns, number in ((old, ders[0], NS_2013, "0"), (new, ders[1], NS_2018, "11")):
        body = run(curves(who, der.pk))
        assert root_namespace(body) == ns
        assert [n.text for n in etree.fromstring(body).iter(f"{{{ns}}}curveType")] == [number]
