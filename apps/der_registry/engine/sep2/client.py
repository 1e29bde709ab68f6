"""A 2030.5 client connection (used by the simulator, the benchmark and the tests): HTTP/1.1
keep-alive over TLS with a device certificate, documents in and out as sep+xml."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from apps.der_registry.engine.sep2.http import read_response
from apps.der_registry.engine.sep2.xmlcodec import CONTENT_TYPE, to_bytes


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def doc(self) -> ET.Element:
        if self.status != 200:
            raise Sep2ClientError(f"expected 200, got {self.status}: {self.body[:200]!r}")
        return ET.fromstring(self.body)


class Sep2ClientError(RuntimeError):
    pass


@dataclass
class Latencies:
    samples_s: list[float] = field(default_factory=list)
    errors: int = 0

    def p(self, q: float) -> float:
        if not self.samples_s:
            return float("nan")
        ordered = sorted(self.samples_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sep2Connection:
    def __init__(self, base_url: str, ctx: ssl.SSLContext | None, stats: Latencies | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 443
        self.ctx = ctx
        self.stats = stats if stats is not None else Latencies()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Sep2Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=self.ctx)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await self.writer.wait_closed()
            self.writer = None

    def cipher(self) -> str:
        assert self.writer is not None
        return str(self.writer.get_extra_info("ssl_object").cipher()[0])

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = CONTENT_TYPE
    ) -> Answer:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", "Accept: application/sep+xml"]
        if body or method in ("POST", "PUT"):
            head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        started = time.perf_counter()
        try:
            self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await self.writer.drain()
            status, headers, data = await read_response(self.reader)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            self.stats.errors += 1
            await self.close()
            raise
        self.stats.samples_s.append(time.perf_counter() - started)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, data)

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def put(self, path: str, doc: ET.Element) -> Answer:
        return await self.request("PUT", path, to_bytes(doc))

    async def post(self, path: str, doc: ET.Element) -> Answer:
        return await self.request("POST", path, to_bytes(doc))
