"""The 2030.5 server's HTTP as a conformance lab drives it (issue #16 item 3): every error is a 2030.5
`Error` resource (application/sep+xml with a reasonCode, the reason in words inside it), never
text/plain; every response carries a Date; HEAD is answered like GET without the body; a client
asking only for EXI gets 406; HTTP/1.0 gets its answer and the connection closes; an HTTP/1.1
request without Host is refused. Raw requests over TLS with the device's certificate."""

from __future__ import annotations

import asyncio
import email.utils
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lxml import etree

from apps.der_registry.engine.sep2 import certs
from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.server import Sep2Server, ServerThread, client_context, server_context
from apps.der_registry.engine.sep2.xmlcodec import CONTENT_TYPE, NS, schema_problem
from apps.der_registry.sep2_store import RegistryStore

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, certs.CertFiles]:
    folder = tmp_path_factory.mktemp("sep2http")
    ca = certs.make_ca(folder)
    made = {n: certs.make_cert(ca, folder, n) for n in ("device", "stranger")}
    certs.make_cert(ca, folder, "server", server=True)
    return {"ca": ca, **made}


@pytest.fixture
def server(pki: dict[str, certs.CertFiles], transactional_db: None) -> Iterator[int]:
    folder = pki["ca"].cert.parent
    ctx = server_context(folder / "server.crt", folder / "server.key", pki["ca"].cert)
    thread = ServerThread(
        Sep2Server(Sep2App(RegistryStore(), poll_s=2), workers=2), "127.0.0.1", 0, ctx
    ).start()
    yield thread.port
    thread.stop()


def exchange(port: int, pki: dict[str, certs.CertFiles], raw: bytes, who: str = "device") -> dict[str, Any]:
    """Send `raw` on a fresh connection; the first response, and whether the server then closed."""

    async def go() -> dict[str, Any]:
        ctx = client_context(pki[who].cert, pki[who].key, pki["ca"].cert)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.write(raw)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length and not raw.startswith(b"HEAD") else b""
        try:
            rest = await asyncio.wait_for(reader.read(1), 2.0)
            closed = rest == b""
        except TimeoutError:
            closed = False
        except (ConnectionError, ssl.SSLError):
            closed = True
        writer.close()
        return {"status": int(head[0].split(" ")[1]), "headers": headers, "body": body, "closed": closed}

    return asyncio.run(go())


def get(path: str, *extra: str, method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {path} {version}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_error_resource(answer: dict[str, Any], status: int, reason_code: int, words: str) -> None:
    assert answer["status"] == status
    assert answer["headers"]["content-type"] == CONTENT_TYPE
    assert schema_problem(answer["body"]) == "", answer["body"]
    root = etree.fromstring(answer["body"])
    assert root.tag == f"{{{NS}}}Error"
    assert root.findtext(f"{{{NS}}}reasonCode") == str(reason_code)
    assert words in answer["body"].decode()  # the reason in words, for the person reading the log


def test_every_error_is_a_2030_5_error_resource(
    server: int, pki: dict[str, certs.CertFiles], enrolled: Callable[..., Any]
) -> None:
    enrolled("active", lfdi=pki["device"].lfdi, sfdi=pki["device"].sfdi)
    host = "Host: 127.0.0.1"
    assert_error_resource(
        exchange(server, pki, get("/nowhere", host)), 404, 0, "no 2030.5 resource at /nowhere"
    )
    assert_error_resource(exchange(server, pki, get("/dcap", host, method="DELETE")), 405, 0, "use GET")
    assert_error_resource(exchange(server, pki, get("/edev?l=lots", host)), 400, 0, "whole numbers")
    oversized = f"PUT /mup HTTP/1.1\r\n{host}\r\nContent-Length: 999999\r\n\r\n".encode()
    assert_error_resource(exchange(server, pki, oversized), 413, 2, "at most")
    stranger = exchange(server, pki, get("/dcap", host), who="stranger")
    assert_error_resource(stranger, 403, 0, "belongs to no DER")


def test_every_response_is_dated_and_head_is_answered(
    server: int, pki: dict[str, certs.CertFiles], enrolled: Callable[..., Any]
) -> None:
    enrolled("active", lfdi=pki["device"].lfdi, sfdi=pki["device"].sfdi)
    host = "Host: 127.0.0.1"
    full = exchange(server, pki, get("/dcap", host))
    head = exchange(server, pki, get("/dcap", host, method="HEAD"))
    missing = exchange(server, pki, get("/nowhere", host))
    for answer in (full, head, missing):
        when = email.utils.parsedate_to_datetime(answer["headers"]["date"])
        assert when.tzinfo is not None
    assert full["status"] == head["status"] == 200
    assert head["headers"]["content-length"] == str(len(full["body"])) and head["body"] == b""
    assert head["headers"]["content-type"] == CONTENT_TYPE


def test_it_refuses_exi_only_clients_and_hostless_requests_and_closes_http_1_0(
    server: int, pki: dict[str, certs.CertFiles], enrolled: Callable[..., Any]
) -> None:
    enrolled("active", lfdi=pki["device"].lfdi, sfdi=pki["device"].sfdi)
    host = "Host: 127.0.0.1"
    exi = exchange(server, pki, get("/dcap", host, "Accept: application/sep-exi"))
    assert_error_resource(exi, 406, 0, "application/sep+xml")
    both = exchange(server, pki, get("/dcap", host, "Accept: application/sep-exi, application/sep+xml;q=0.5"))
    assert both["status"] == 200
    old = exchange(server, pki, get("/dcap", method="GET", version="HTTP/1.0"))
    assert old["status"] == 200 and old["closed"]
    kept = exchange(server, pki, get("/dcap", host))
    assert kept["status"] == 200 and not kept["closed"]  # HTTP/1.1 stays open
    hostless = exchange(server, pki, get("/dcap"))
    assert_error_resource(hostless, 400, 0, "Host")
    assert hostless["closed"]
