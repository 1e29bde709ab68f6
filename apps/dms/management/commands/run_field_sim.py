"""Simulated field devices on loopback: N DNP3 DER outstations (inverters that follow P-limit and
Q set points) behind emulated network tiers, and the IEEE 2030.5 client simulator when present."""

from __future__ import annotations

import importlib
import signal
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.engine.dnp3.netem import TIERS, Tier
from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.dnp3.simulator import FieldSim, SimDER
from apps.dms.engine.dnp3.stack import TlsFiles, shutdown_manager
from apps.dms.models import Feeder
from apps.standards.dnp3_profile import DEFAULT_POINT_MAP

SEP2_SIMULATOR = "apps.der_registry.engine.sep2.sim_fleet"


def outage(text: str) -> tuple[str, float, float]:
    """TIER:START_S:DURATION_S"""
    tier, start, duration = text.split(":")
    if tier not in TIERS or float(start) < 0 or float(duration) <= 0:
        raise ValueError(text)
    return tier, float(start), float(duration)


def port_range(text: str) -> tuple[int, int]:
    """LO-HI → (LO, HI)"""
    lo, _, hi = text.partition("-")
    low, high = int(lo), int(hi or lo)
    if not 0 < low <= high < 65536:
        raise ValueError(text)
    return low, high


def registry_ders(feeder: str, ports: tuple[int, int] | None) -> list[SimDER]:
    """The feeder's active DNP3 DERs as the registry has them: where they answer, their effective
    ratings, the P they last reported (their rating when they never did)."""
    from apps.der_registry.models import DER

    if not Feeder.objects.filter(name=feeder).exists():
        raise CommandError(f"There is no feeder named {feeder!r}; import it first.")
    ders = DER.objects.filter(feeder__name=feeder, status="active", comm_path="dnp3_direct")
    if ports is not None:
        ders = ders.filter(dnp3_port__gte=ports[0], dnp3_port__lte=ports[1])
    specs = []
    for der in ders.select_related("latest").order_by("dnp3_port", "dnp3_outstation_address"):
        eff = {k: float(v.value or 0.0) for k, v in der.effective().items()}
        limits = DERLimits(
            eff["active_power_kw"],
            eff["reactive_injected_kvar"],
            eff["reactive_absorbed_kvar"],
            eff["apparent_power_kva"],
        )
        latest = getattr(der, "latest", None)
        p_kw = float(latest.p_kw) if latest and latest.p_kw is not None else limits.p_max_kw
        where = (int(der.dnp3_port or 0), int(der.dnp3_outstation_address or 0))
        specs.append(SimDER(*where, limits, p_kw, point_map=der.dnp3_point_map or DEFAULT_POINT_MAP))
    if not specs:
        raise CommandError(f"Feeder {feeder} has no active DNP3 DERs{' on those ports' if ports else ''}.")
    return specs


class Command(BaseCommand):
    help = __doc__ or ""
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dnp3", type=int, default=0, metavar="N", help="number of DNP3 DER outstations")
        parser.add_argument("--base-port", type=int, default=20000, help="first TCP port (one port per DER)")
        parser.add_argument("--address", type=int, default=10, help="DNP3 outstation link address")
        parser.add_argument(
            "--tier",
            choices=[*TIERS, "mixed", "none"],
            default="none",
            help="network tier to emulate (mixed: LAN, WAN, FAN, NAN in turn)",
        )
        parser.add_argument(
            "--outage",
            type=outage,
            action="append",
            default=[],
            metavar="TIER:START:DURATION",
            help="scripted outage of a tier, seconds from start (repeatable)",
        )
        parser.add_argument(
            "--feeder",
            metavar="NAME",
            help="serve this feeder's active DNP3 DERs from the registry instead of --dnp3 N: at their "
            "registered ports, addresses and ratings, giving the P they last reported",
        )
        parser.add_argument(
            "--ports",
            type=port_range,
            metavar="LO-HI",
            help="with --feeder: only the DERs whose port is in LO…HI (one field segment)",
        )
        parser.add_argument("--p-max-kw", type=float, default=10.0)
        parser.add_argument("--s-max-kva", type=float, default=11.0)
        parser.add_argument("--q-max-kvar", type=float, default=4.84)
        parser.add_argument("--tls-dir", type=Path, help="folder with ca.pem, outstation.pem, outstation.key")
        parser.add_argument("--sep2", type=int, default=0, metavar="M", help="number of IEEE 2030.5 clients")
        parser.add_argument(
            "--sep2-aggregated",
            type=int,
            default=0,
            metavar="K",
            help="K more 2030.5 devices behind one aggregator client (one certificate)",
        )
        parser.add_argument(
            "--sep2-url", default="https://127.0.0.1:8443", help="the 2030.5 server the clients talk to"
        )
        parser.add_argument(
            "--sep2-certs",
            type=Path,
            default=Path(".data/sep2"),
            help="folder with the CA (ca.crt, ca.key) that signs the clients' certificates",
        )
        parser.add_argument(
            "--sep2-poll",
            type=float,
            metavar="S",
            help="client poll period, s (default: the server's pollRate)",
        )

    def handle(self, *args: Any, **o: Any) -> None:
        n, base = o["dnp3"], o["base_port"]
        if n < 0 or o["sep2"] < 0 or o["sep2_aggregated"] < 0:
            raise CommandError("--dnp3, --sep2 and --sep2-aggregated count devices; give 0 or more.")
        if o["sep2_poll"] is not None and not o["sep2_poll"] > 0:
            raise CommandError("--sep2-poll is a period in seconds; give more than 0.")
        if n and not (base >= 1024 and base + n - 1 <= 65535 - 10000):
            raise CommandError(
                f"Ports {base}…{base + n - 1} do not fit 1024…55535 (a tier relay uses port + 10000)."
            )
        limits = DERLimits(o["p_max_kw"], o["q_max_kvar"], o["q_max_kvar"], o["s_max_kva"])
        names = list(TIERS)
        tier_of = (
            (lambda i: names[i % len(names)])
            if o["tier"] == "mixed"
            else (lambda i: "" if o["tier"] == "none" else o["tier"])
        )
        tiers = dict(TIERS)
        for tier, start, duration in o["outage"]:
            t = tiers[tier]
            tiers[tier] = Tier(t.name, t.latency_s, t.jitter_s, t.loss, (*t.outages, (start, duration)))
        if o["feeder"]:
            specs = registry_ders(o["feeder"], o["ports"])
            n = len(specs)
        else:
            specs = [
                SimDER(base + i, o["address"], limits, 0.8 * limits.p_max_kw, tier_of(i)) for i in range(n)
            ]
        sim = FieldSim(specs, tls=self._tls(o["tls_dir"]), tiers=tiers)
        sep2 = self._sep2(o)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        sim.start()
        where = (
            f"of feeder {o['feeder']}"
            if o["feeder"]
            else f"on 127.0.0.1:{base}…{base + max(n - 1, 0)} (address {o['address']}, tier {o['tier']})"
        )
        self.stdout.write(f"Field simulator: {n} DNP3 outstations {where}. Ctrl-C stops.", ending="\n")
        self.stdout.flush()
        if sep2 is not None:
            self.stdout.write(
                f"IEEE 2030.5: {o['sep2']} device clients and {o['sep2_aggregated']} devices behind "
                f"one aggregator, against {o['sep2_url']}."
            )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if sep2 is not None:
                sep2.stop()
            sim.stop()
            shutdown_manager()

    def _tls(self, folder: Path | None) -> TlsFiles | None:
        try:
            return TlsFiles.in_folder(folder, "outstation")
        except FileNotFoundError:
            raise CommandError(f"{folder} needs ca.pem, outstation.pem and outstation.key.") from None

    def _sep2(self, o: dict[str, Any]) -> Any:
        """Hook: the 2030.5 client simulator module provides start(count, ...) → object with stop()."""
        if not (o["sep2"] or o["sep2_aggregated"]):
            return None
        try:
            module = importlib.import_module(SEP2_SIMULATOR)
        except ModuleNotFoundError as exc:
            raise CommandError(f"--sep2 needs {SEP2_SIMULATOR}, which is not installed here.") from exc
        try:
            return module.start(
                count=o["sep2"],
                base_url=o["sep2_url"],
                cert_dir=o["sep2_certs"],
                poll_s=o["sep2_poll"],
                aggregated=o["sep2_aggregated"],
            )
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(f"Cannot start the 2030.5 clients: {exc}") from exc
