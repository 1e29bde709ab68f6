from __future__ import annotations

import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.der_registry.engine.sep2 import certs
from apps.der_registry.engine.sep2.server import server_context
from apps.der_registry.engine.sep2.workers import WorkerPool, default_workers, listen_sockets
from apps.der_registry.sep2_dnssd import start_dnssd
from apps.der_registry.sep2_serving import ServerOptions, configure_logging, start_duties, worker_main


class Command(BaseCommand):
    help = (
        "Serve IEEE 2030.5 to DERs and aggregators: TLS 1.2 with client certificates, each client "
        "identified by its certificate's LFDI against the registry. Several worker processes answer "
        "on one port; this process keeps them running and notifies subscribers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        default_dir = Path(settings.BASE_DIR) / ".data" / "sep2"
        parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
        parser.add_argument("--port", type=int, default=8443, help="TCP port (default 8443)")
        parser.add_argument(
            "--cert", type=Path, default=default_dir / "server.crt", help="server certificate (PEM)"
        )
        parser.add_argument(
            "--key", type=Path, default=default_dir / "server.key", help="its private key (PEM)"
        )
        parser.add_argument(
            "--ca", type=Path, default=default_dir / "ca.crt", help="CA that signs device certificates"
        )
        parser.add_argument("--poll-rate", type=int, default=60, help="pollRate announced to clients, s")
        parser.add_argument(
            "--workers",
            type=int,
            default=default_workers(),
            help="processes answering requests (default: one per CPU, here %(default)s)",
        )
        parser.add_argument("--threads", type=int, default=8, help="request threads in each worker process")
        parser.add_argument(
            "--notify-period", type=float, default=2.0, help="how often new DERControls are notified, s"
        )
        parser.add_argument(
            "--demo-certs",
            action="store_true",
            help="create a CA and server certificate in the --ca/--cert folders when they are missing",
        )
        parser.add_argument(
            "--lenient-certificates",
            action="store_true",
            help="also answer clients whose certificate is off the 2030.5 device profile (devices on "
            "older certificates); by default they get 403 with the reason",
        )
        parser.add_argument(
            "--dnssd",
            metavar="INTERFACE",
            default="",
            help="announce the server by DNS-SD (multicast DNS) on this network interface, as 2030.5 "
            "clients discover servers (_smartenergy._tcp.site, an edev-<sFDI> subtype per device)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        served = self._options(options)
        try:
            sockets = listen_sockets(served.host, served.port, options["workers"])
        except OSError as exc:
            raise CommandError(f"Cannot listen on {served.host}:{served.port}: {exc}") from exc
        served = replace(served, port=sockets[0].getsockname()[1])
        configure_logging()
        if options["dnssd"]:
            announce(options["dnssd"], served.host, served.port)
        pool = WorkerPool(worker_main, lambda slot: (served, sockets[slot]), options["workers"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        pool.start()
        start_duties(served)
        self.stdout.write(
            f"IEEE 2030.5 server on https://{served.host}:{served.port}/dcap, "
            f"{options['workers']} worker processes (Ctrl-C stops it)"
        )
        try:
            pool.watch(stop)
        finally:
            pool.stop()
            self.stdout.write("Stopped.")

    def _options(self, options: dict[str, Any]) -> ServerOptions:
        """The options checked, the certificates made (--demo-certs) and loadable, or CommandError."""
        cert, key, ca = options["cert"], options["key"], options["ca"]
        if not 1 <= options["poll_rate"] <= 86400:
            raise CommandError("--poll-rate must be between 1 s and 1 day.")
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 0 and 65535.")
        if not 0.1 <= options["notify_period"] <= 3600:
            raise CommandError("--notify-period must be between 0.1 s and 1 hour.")
        if not 1 <= options["workers"] <= 64 or not 1 <= options["threads"] <= 64:
            raise CommandError("--workers and --threads must each be between 1 and 64.")
        if options["demo_certs"] and not (cert.exists() and ca.exists()):
            ca_files = certs.make_ca(ca.parent)
            made = certs.make_cert(ca_files, cert.parent, cert.stem, server=True)
            cert, key, ca = made.cert, made.key, ca_files.cert
            self.stdout.write(f"Created a demo CA {ca} and server certificate {cert}.")
        for path, what in ((cert, "server certificate"), (key, "server key"), (ca, "CA certificate")):
            if not path.exists():
                raise CommandError(f"The {what} {path} does not exist (use --demo-certs for a test set).")
        try:
            server_context(cert, key, ca)  # each worker loads them again; fail here, in words, once
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot load the TLS certificates: {exc}") from exc
        return ServerOptions(
            options["host"], options["port"], cert, key, ca, options["poll_rate"], options["threads"],
            options["notify_period"], enforce_profile=not options["lenient_certificates"],
        )  # fmt: skip


def announce(interface: str, host: str, port: int) -> None:
    """DNS-SD for the server listening on host:port, from this one process however many serve;
    CommandError when the interface cannot carry it."""
    try:
        start_dnssd(interface, host, port)
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot announce the server by DNS-SD on {interface}: {exc}") from exc
