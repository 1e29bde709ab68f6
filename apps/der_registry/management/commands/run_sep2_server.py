from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from apps.der_registry.engine.sep2 import certs
from apps.der_registry.engine.sep2.app import Sep2App
from apps.der_registry.engine.sep2.notify import Notifier
from apps.der_registry.engine.sep2.server import Sep2Server, client_context, serve_forever, server_context
from apps.der_registry.sep2_store import RegistryStore
from apps.der_registry.sep2_supervision import Sep2Supervisor


class Command(BaseCommand):
    help = (
        "Serve IEEE 2030.5 to DERs and aggregators: TLS 1.2 with client certificates, each client "
        "identified by its certificate's LFDI against the registry."
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
        parser.add_argument("--workers", type=int, default=8, help="threads answering requests")
        parser.add_argument(
            "--notify-period", type=float, default=2.0, help="how often new DERControls are notified, s"
        )
        parser.add_argument(
            "--demo-certs",
            action="store_true",
            help="create a CA and server certificate in the --ca/--cert folders when they are missing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cert, key, ca = options["cert"], options["key"], options["ca"]
        if not 1 <= options["poll_rate"] <= 86400:
            raise CommandError("--poll-rate must be between 1 s and 1 day.")
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 0 and 65535.")
        if options["demo_certs"] and not (cert.exists() and ca.exists()):
            ca_files = certs.make_ca(ca.parent)
            made = certs.make_cert(ca_files, cert.parent, cert.stem, server=True)
            cert, key, ca = made.cert, made.key, ca_files.cert
            self.stdout.write(f"Created a demo CA {ca} and server certificate {cert}.")
        for path, what in ((cert, "server certificate"), (key, "server key"), (ca, "CA certificate")):
            if not path.exists():
                raise CommandError(f"The {what} {path} does not exist (use --demo-certs for a test set).")
        try:
            ctx = server_context(cert, key, ca)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot load the TLS certificates: {exc}") from exc
        logging.basicConfig(level=logging.INFO)
        if not 0.1 <= options["notify_period"] <= 3600:
            raise CommandError("--notify-period must be between 0.1 s and 1 hour.")
        store = RegistryStore()
        # Subscribers are notified with the server's own certificate, as a TLS client.
        notifier = Notifier(store, client_context(cert, key, ca), options["notify_period"])
        app = Sep2App(store, options["poll_rate"], server_lfdi=certs.load(cert, key).lfdi)
        server = Sep2Server(app, workers=options["workers"], notifier=notifier)
        supervise_in_background(Sep2Supervisor(app.contact, float(options["poll_rate"])))

        def ready(port: int) -> None:
            self.stdout.write(
                f"IEEE 2030.5 server on https://{options['host']}:{port}/dcap (Ctrl-C stops it)"
            )

        try:
            serve_forever(server, options["host"], options["port"], ctx, ready)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc}") from exc
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")


def supervise_in_background(supervisor: Sep2Supervisor) -> threading.Thread:
    """Every half poll period (at least each second), the devices' communication alarms."""
    period_s = max(1.0, supervisor.poll_s / 2)

    def loop() -> None:
        while True:
            time.sleep(period_s)
            try:
                supervisor.step(time.time())
            except Exception:  # the server must outlive a supervision round the database refused
                logging.getLogger(__name__).exception("2030.5 communication supervision failed")
            finally:
                close_old_connections()

    thread = threading.Thread(target=loop, name="sep2-supervision", daemon=True)
    thread.start()
    return thread
