"""Hold a DNP3 master link to every active DNP3 DER in the registry; send issued set points,
store measurements, raise and clear communication alarms. With --ems-port and --dso-feeder, also
serve the EMS link as that feeder's DMS outstation. Runs until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.dso_server import DsoConfig, DsoServer, parse_feeder
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.engine.dnp3.stack import TlsFiles, shutdown_manager
from apps.dms.gateway import Dnp3Gateway, GatewayOptions
from apps.dms.models import Feeder
from apps.dms.rtu import RtuReader, parse_rtu
from apps.standards.timing import check_interval
from crest_web.cli import positive


def tls_files(folder: Path | None, side: str) -> TlsFiles | None:
    try:
        return TlsFiles.in_folder(folder, side)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None


def dso_config(opts: dict[str, Any]) -> DsoConfig | None:
    """The EMS link's settings, or None when it is not asked for; CommandError on half a setting."""
    port, feeder = opts.get("ems_port"), opts.get("dso_feeder")
    if port is None and feeder is None:
        return None
    if port is None or feeder is None:
        raise CommandError("The EMS link needs both --ems-port and --dso-feeder NAME[:COUNT].")
    if not 0 < port < 65536:
        raise CommandError(f"--ems-port {port} is not a TCP port (1–65535).")
    try:
        name, count = parse_feeder(feeder)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if not Feeder.objects.filter(name=name).exists():
        raise CommandError(f"There is no feeder named {name!r}; import it first.")
    interval_s = opts.get("interval") or settings.CREST_CYCLE_INTERVAL_S
    problem = check_interval(interval_s, settings.CREST_CYCLE_ALLOW_SHORT)
    if problem:
        raise CommandError(f"--interval: {problem}")
    return DsoConfig(name, port, count, opts["ems_address"], opts["ems_host"], interval_s)


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=positive,
            help="seconds without an answer before a communication "
            "alarm (default: each DER's expected telemetry update period)",
        )
        parser.add_argument(
            "--poll",
            type=positive,
            default=2.0,
            help="event poll period, s (default 2); the registry's DNP3 DERs are read again as often",
        )
        parser.add_argument(
            "--integrity", type=positive, default=60.0, help="integrity poll period, s (default 60)"
        )
        parser.add_argument(
            "--record-every",
            type=positive,
            default=5.0,
            help="store a DER's measurements at most this often, s",
        )
        parser.add_argument(
            "--retry-max", type=positive, default=30.0, help="longest reconnect back-off, s (default 30)"
        )
        parser.add_argument(
            "--feeder",
            action="append",
            default=[],
            metavar="NAME",
            help="link only the DERs of this feeder (repeatable; default: every active DNP3 DER)",
        )
        parser.add_argument(
            "--rtu",
            action="append",
            default=[],
            metavar="FEEDER=HOST:PORT[:ADDRESS]",
            help="read this feeder's substation RTU over DNP3 and record its head P, Q, V (repeatable)",
        )
        parser.add_argument(
            "--tls-dir",
            type=Path,
            help="folder with ca.pem, master.pem, master.key for DERs marked DNP3 over TLS",
        )
        ems = parser.add_argument_group("EMS link (the DMS as the EMS's outstation)")
        ems.add_argument("--ems-port", type=int, help="serve the EMS link on this TCP port")
        ems.add_argument("--ems-host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        ems.add_argument("--ems-address", type=int, default=10, help="outstation link address (default 10)")
        ems.add_argument("--dso-feeder", help="NAME[:COUNT]: the feeder the EMS requests are dispatched on")
        ems.add_argument(
            "--interval",
            type=positive,
            help="the coordination cycle's interval, s: how long the DMS may wait for its DERs "
            "before it answers (default: the CREST_CYCLE_INTERVAL_S setting)",
        )
        ems.add_argument(
            "--ems-tls-dir", type=Path, help="folder with ca.pem, outstation.pem, outstation.key: TLS"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        tls = tls_files(opts["tls_dir"], "master")
        dso = dso_config(opts)
        master = MasterOptions(
            event_poll_s=opts["poll"], integrity_poll_s=opts["integrity"], retry_max_s=opts["retry_max"]
        )
        unknown = [f for f in opts["feeder"] if not Feeder.objects.filter(name=f).exists()]
        if unknown:
            raise CommandError(f"There is no feeder named {', '.join(map(repr, unknown))}; import it first.")
        gateway = Dnp3Gateway(
            GatewayOptions(
                opts["timeout"], opts["record_every"], master=master, tls=tls, feeders=tuple(opts["feeder"])
            )
        )
        for spec in opts["rtu"]:
            try:
                name, endpoint = parse_rtu(spec)
            except ValueError as exc:
                gateway.close()
                raise CommandError(f"--rtu {exc}.") from exc
            if not Feeder.objects.filter(name=name).exists():
                gateway.close()
                raise CommandError(f"--rtu: there is no feeder named {name!r}; import it first.")
            reader = RtuReader(name, opts["record_every"])
            reader.attach(gateway.pool, endpoint)
            gateway.rtus.append(reader)
            self.stdout.write(
                f"Substation RTU of {name}: {endpoint.host}:{endpoint.port}, address {endpoint.address}."
            )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if dso is not None:
            try:
                rtu = next((r for r in gateway.rtus if r.feeder == dso.feeder), None)
                gateway.dso_servers.append(DsoServer(dso, tls_files(opts["ems_tls_dir"], "outstation"), rtu))
            except (OSError, RuntimeError) as exc:
                gateway.close()
                shutdown_manager()
                raise CommandError(f"The EMS link cannot listen on port {dso.port}: {exc}") from exc
            self.stdout.write(
                f"EMS link: outstation {dso.address} on {dso.host}:{dso.port} for {dso.count} × {dso.feeder}."
            )
        count = gateway.load()
        self.stdout.write(
            f"DNP3 gateway: {count} DER links on {len(gateway.pool.channels)} channels. Ctrl-C stops."
        )
        try:
            gateway.run(stop)
        except KeyboardInterrupt:
            pass
        finally:
            try:
                gateway.flush()
            finally:  # the stacks' threads would keep the process alive
                gateway.close()
                shutdown_manager()
        self.stdout.write("DNP3 gateway stopped.")
