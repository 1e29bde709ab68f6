"""Just enough HTTP/1.1 for 2030.5: persistent connections (HTTP/1.0: one request, then close),
Content-Length bodies, a Host on every HTTP/1.1 request, a Date on every response, HEAD, hard limits
on header and body size. What breaks these is an HttpError, which the server answers as a 2030.5
Error resource (errors.py)."""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024  # the largest 2030.5 document a client sends is a few kB


class HttpError(Exception):
    def __init__(self, status: int, message: str, close: bool = False) -> None:
        self.status = status
        self.close = close
        super().__init__(message)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    version: str = "HTTP/1.1"

    @property
    def keep_alive(self) -> bool:
        return self.version == "HTTP/1.1" and self.headers.get("connection", "").lower() != "close"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _header_block(raw: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        lines = raw.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise HttpError(400, "The request line must be 'METHOD /path HTTP/1.1'.", close=True) from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "Only HTTP/1.1 (and HTTP/1.0) is spoken here.", close=True)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"Malformed header line {line[:60]!r}.", close=True)
        headers[name.strip().lower()] = value.strip()
    if version == "HTTP/1.1" and not headers.get("host"):
        raise HttpError(400, "An HTTP/1.1 request must carry a Host header (RFC 9112 §3.2).", close=True)
    return method, target, version, headers


def _content_length(headers: dict[str, str], max_body: int) -> int:
    if "transfer-encoding" in headers:
        raise HttpError(411, "Chunked bodies are not accepted; send the body with a Content-Length.", True)
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise HttpError(400, f"Content-Length must be a whole number of bytes, not {raw!r}.", close=True)
    length = int(raw)
    if length > max_body:
        raise HttpError(
            413, f"The body is {length} bytes; this server accepts at most {max_body} bytes.", close=True
        )
    return length


async def read_request(reader: asyncio.StreamReader, max_body: int = MAX_BODY_BYTES) -> Request | None:
    """The next request on a connection, or None when the client closed it."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "The connection closed in the middle of a request.", close=True) from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"Request headers exceed {MAX_HEADER_BYTES} bytes.", close=True) from None
    method, target, version, headers = _header_block(raw[:-4])
    length = _content_length(headers, max_body)
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    return Request(method.upper(), path, dict(parse_qsl(parts.query)), headers, body, version)


def render(reply: Reply, keep_alive: bool, head_only: bool = False) -> bytes:
    """The response's bytes; `head_only`: a HEAD's, the headers GET would carry and no body."""
    reason = HTTPStatus(reply.status).phrase
    head = [
        f"HTTP/1.1 {reply.status} {reason}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"Content-Length: {len(reply.body)}",
    ]
    if reply.body:
        head.append(f"Content-Type: {reply.content_type}")
    head.extend(f"{k}: {v}" for k, v in reply.headers.items())
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else reply.body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """A client's side: status, headers and body of the next response."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return status, headers, await reader.readexactly(length) if length else b""
