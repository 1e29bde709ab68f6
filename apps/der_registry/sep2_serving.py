"""The processes of `run_sep2_server`: the worker processes that answer the devices, and the duties
that must run once per server, in the process that started the workers (docs/adr/0016).

A worker holds no state another worker needs: the registry is in PostgreSQL, and when each device
was last heard from goes to Redis (sep2_contacts.py). What must happen once — notifying subscribers
of a new DERControl, supervising the devices' communication — runs in the parent only: a notifier
in every worker would send every notification once per worker. A duty is a function that starts
its own daemon thread; add one to `DUTIES`."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Only framework-free imports at the top: a spawned worker imports this module to find worker_main
# before Django is set up; the rest is imported inside the functions.
from apps.der_registry.engine.sep2 import certs

log = logging.getLogger("crest.sep2")


@dataclass(frozen=True)
class ServerOptions:
    """What a worker needs to build its server (picklable: it crosses into a spawned process)."""

    host: str
    port: int  # the port bound (the one the system picked for --port 0)
    cert: Path
    key: Path
    ca: Path
    poll_s: int
    threads: int
    notify_period_s: float
    enforce_profile: bool = True  # refuse client certificates off the 2030.5 profile


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(levelname)s %(message)s")


def worker_main(options: ServerOptions, sock: socket.socket) -> None:
    """One worker process: a fresh interpreter, so Django, its database connections and its Redis
    pools are its own. Answers on `sock` until SIGTERM or until the parent is gone."""
    import django

    django.setup()
    configure_logging()
    from apps.der_registry.engine.sep2 import xmlcodec
    from apps.der_registry.engine.sep2.app import Sep2App
    from apps.der_registry.engine.sep2.server import Sep2Server, serve_until_stopped, server_context
    from apps.der_registry.sep2_contacts import SharedContactBook, push_in_background
    from apps.der_registry.sep2_store import RegistryStore

    xmlcodec.load_schemas()  # built before any request thread needs one (`xmlcodec._building`)
    contacts = SharedContactBook()
    lfdi = certs.load(options.cert, options.key).lfdi
    app = Sep2App(RegistryStore(), options.poll_s, contact=contacts, server_lfdi=lfdi)
    # No notifier: the parent notifies, once.
    server = Sep2Server(app, workers=options.threads, enforce_profile=options.enforce_profile)
    push_in_background(contacts)
    parent = multiprocessing.parent_process()
    name = multiprocessing.current_process().name

    def ready() -> None:
        log.info("%s answering", name)

    serve_until_stopped(
        server,
        sock,
        server_context(options.cert, options.key, options.ca),
        ready,
        parent.sentinel if parent is not None else None,
    )
    contacts.push()  # what it heard in its last second


def notify_in_background(options: ServerOptions) -> threading.Thread:
    """Subscribers get a Notification of each new DERControl, POSTed with the server's own certificate."""
    from apps.der_registry.engine.sep2.notify import Notifier
    from apps.der_registry.engine.sep2.server import client_context
    from apps.der_registry.sep2_store import RegistryStore

    ctx = client_context(options.cert, options.key, options.ca)
    notifier = Notifier(RegistryStore(), ctx, options.notify_period_s)

    def run() -> None:
        with ThreadPoolExecutor(2, thread_name_prefix="sep2-notify") as pool:
            asyncio.run(notifier.run(pool))

    thread = threading.Thread(target=run, name="sep2-notify", daemon=True)
    thread.start()
    return thread


def supervise_in_background(options: ServerOptions) -> threading.Thread:
    """Every half poll period (at least each second), the devices' communication alarms, from what
    every worker heard."""
    from django.db import close_old_connections

    from apps.der_registry.sep2_contacts import SharedContactBook
    from apps.der_registry.sep2_supervision import Sep2Supervisor

    contacts = SharedContactBook()
    supervisor = Sep2Supervisor(contacts, float(options.poll_s))
    period_s = max(1.0, supervisor.poll_s / 2)

    def loop() -> None:
        while True:
            time.sleep(period_s)
            try:
                contacts.pull()
                supervisor.step(time.time())
            except Exception:  # the server must outlive a supervision round the database refused
                log.exception("2030.5 communication supervision failed")
            finally:
                close_old_connections()

    thread = threading.Thread(target=loop, name="sep2-supervision", daemon=True)
    thread.start()
    return thread


DUTIES: list[Callable[[ServerOptions], threading.Thread]] = [notify_in_background, supervise_in_background]


def start_duties(options: ServerOptions) -> list[threading.Thread]:
    return [duty(options) for duty in DUTIES]
