"""The 2030.5 server: asyncio HTTP/1.1 over TLS 1.2 with mandatory client certificates.
The event loop only moves bytes; each request is answered by `Sep2App.handle` on a worker
thread (the store does blocking database work there). `run_sep2_server` runs several of these
servers, one per worker process, on one port (workers.py); tests run one in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.certs import profile_problem
from apps.der_registry.engine.sep2.errors import error_reply
from apps.der_registry.engine.sep2.http import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    HttpError,
    Reply,
    Request,
    read_request,
    render,
)
from apps.der_registry.engine.sep2.model import Client
from apps.der_registry.engine.sep2.notify import Notifier
from apps.der_registry.engine.sep2.workers import LISTEN_BACKLOG
from apps.der_registry.engine.sep2_identity import lfdi_from_certificate

log = logging.getLogger("crest.sep2")

# 2030.5 §6.11: TLS 1.2 with ECDHE-ECDSA and AES-128-CCM-8 is mandatory; GCM suites are offered
# too for general-purpose clients. Python's default cipher string excludes CCM, so name them.
CIPHERS = "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
IDLE_TIMEOUT_S = 300.0
DRAIN_S = 5.0  # a stopping worker answers the requests it is in the middle of for this long at most


def _tls12(ctx: ssl.SSLContext, cert: Path, key: Path, ca: Path, ciphers: str) -> ssl.SSLContext:
    """TLS 1.2 only, with our certificate and the CA that vouches for the peer."""
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    ctx.load_verify_locations(cafile=str(ca))
    # The intermediate beside the root (certs.py) is trusted too: a peer that sends its leaf alone,
    # as the EPRI reference client does, then still chains to the root.
    mica = ca.parent / "mica.crt"
    if mica.is_file():
        ctx.load_verify_locations(cafile=str(mica))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    ctx = _tls12(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cert, key, ca, CIPHERS)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(cert: Path, key: Path, ca: Path, ciphers: str = CIPHERS) -> ssl.SSLContext:
    ctx = _tls12(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), cert, key, ca, ciphers)
    ctx.check_hostname = False  # devices reach the server by address; the CA pins its identity
    return ctx


@dataclass
class Sep2Server:
    app: Sep2App
    workers: int = 8
    max_body: int = MAX_BODY_BYTES
    notifier: Notifier | None = None
    # Refuse clients whose certificate is off the 2030.5 device profile (certs.profile_problem); a
    # utility with devices on older certificates may turn it off (run_sep2_server --lenient-certificates).
    enforce_profile: bool = True
    pool: ThreadPoolExecutor = field(init=False)
    busy: int = field(init=False, default=0)  # requests being answered now (a stopping worker waits)
    _background: set[asyncio.Task[None]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sep2")

    async def start(
        self, host: str, port: int, ctx: ssl.SSLContext, sock: socket.socket | None = None
    ) -> asyncio.Server:
        """Listen on host:port, or on `sock` (already bound and listening) when given."""
        if sock is not None:
            server = await asyncio.start_server(
                self._connection, sock=sock, ssl=ctx, limit=MAX_HEADER_BYTES, backlog=LISTEN_BACKLOG
            )
        else:
            server = await asyncio.start_server(self._connection, host, port, ssl=ctx, limit=MAX_HEADER_BYTES)
        if self.notifier is not None:
            self._background.add(asyncio.create_task(self.notifier.run(self.pool)))
        return server

    def stop_background(self) -> None:
        for task in self._background:
            task.cancel()

    def _answer(self, lfdi: str, client: Client | None, req: Request) -> Reply:
        try:
            return self.app.handle(lfdi, client, req)
        except Exception:  # one bad request must never take the server down
            log.exception("2030.5 %s %s failed", req.method, req.path)
            return error_reply(500, "The server failed to answer this request; the error has been logged.")

    async def _respond(
        self, writer: asyncio.StreamWriter, lfdi: str, client: Client | None, req: Request, off_profile: str
    ) -> Client | None:
        """Answer one request; the client it came from, identified on the connection's first."""
        loop = asyncio.get_running_loop()
        if off_profile:
            reply = error_reply(
                403,
                f"The client certificate (LFDI {lfdi}) does not follow the IEEE 2030.5 device "
                f"certificate profile: {off_profile}. Issue the device a certificate on the profile.",
            )
            writer.write(render(reply, req.keep_alive, head_only=req.method == "HEAD"))
            await writer.drain()
            return None
        if client is None or (req.method == "POST" and req.path == "/edev"):
            client = await loop.run_in_executor(self.pool, self.app.store.identify, lfdi)
        head = req.method == "HEAD"  # answered as GET, without the body
        asked = dataclasses.replace(req, method="GET") if head else req
        reply = await loop.run_in_executor(self.pool, self._answer, lfdi, client, asked)
        if reply.status >= 400:
            log.info("%s %s from LFDI %s: %d", req.method, req.path, lfdi, reply.status)
        writer.write(render(reply, req.keep_alive, head_only=head))
        await writer.drain()
        return client

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        lfdi = lfdi_from_certificate(der)
        off_profile = profile_problem(der) if self.enforce_profile else ""
        if off_profile:
            log.warning("refusing LFDI %s: its certificate is off the 2030.5 profile: %s", lfdi, off_profile)
        client: Client | None = None
        try:
            while True:
                try:
                    req = await asyncio.wait_for(read_request(reader, self.max_body), IDLE_TIMEOUT_S)
                except HttpError as exc:
                    writer.write(render(error_reply(exc.status, str(exc)), keep_alive=not exc.close))
                    await writer.drain()
                    if exc.close:
                        break
                    continue
                if req is None:
                    break
                self.busy += 1
                try:
                    client = await self._respond(writer, lfdi, client, req, off_profile)
                finally:
                    self.busy -= 1
                if not req.keep_alive:
                    break
        except (TimeoutError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class ServerThread:
    """The server on its own event loop in a background thread (tests, benchmark, demo)."""

    def __init__(self, server: Sep2Server, host: str, port: int, ctx: ssl.SSLContext) -> None:
        self.server, self.host, self.ctx = server, host, ctx
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sep2-server", daemon=True)
        self._aserver: asyncio.Server | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._aserver = self.loop.run_until_complete(self.server.start(self.host, self.port, self.ctx))
        self.port = self._aserver.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.stop_background()
            if self._aserver is not None:
                self._aserver.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.server.pool.shutdown(wait=True)


def serve_until_stopped(
    server: Sep2Server,
    sock: socket.socket,
    ctx: ssl.SSLContext,
    ready: Callable[[], None],
    parent_sentinel: int | None = None,
) -> None:
    """Answer on `sock` until SIGTERM, or until the process that started this one is gone
    (`parent_sentinel` readable): a worker must not go on holding the port for a dead server.
    SIGINT is left to the parent, which stops its workers in order."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        if parent_sentinel is not None:
            sentinel = parent_sentinel

            def parent_gone() -> None:
                loop.remove_reader(sentinel)  # readable for good from now on
                stopped.set()

            loop.add_reader(sentinel, parent_gone)
        aserver = await server.start("", 0, ctx, sock=sock)
        ready()
        await stopped.wait()
        server.stop_background()
        aserver.close()  # no new connections; the requests being answered get their replies
        deadline_s = loop.time() + DRAIN_S
        while server.busy and loop.time() < deadline_s:
            await asyncio.sleep(0.05)

    asyncio.run(main())
    server.pool.shutdown(wait=True)
