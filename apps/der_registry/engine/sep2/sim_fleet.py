"""The demo's fleet of simulated 2030.5 devices: direct inverters with certificates from the demo
CA, one aggregator managing many more, and a handle running them all on a background event loop
(`manage.py run_field_sim --sep2`, the plant). Each device is `simulator.run_client_forever`."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

from apps.der_registry.engine.sep2 import certs
from apps.der_registry.engine.sep2.simulator import (
    DeviceField,
    SimClient,
    SimDevice,
    SimStats,
    run_client_forever,
)
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi


def _demo_ca(cert_dir: Path) -> certs.CertFiles:
    ca_cert, ca_key = cert_dir / "ca.crt", cert_dir / "ca.key"
    if not (ca_cert.is_file() and ca_key.is_file()):
        raise FileNotFoundError(
            f"{cert_dir} needs ca.crt and ca.key (run_sep2_server --demo-certs makes them)."
        )
    return certs.CertFiles(ca_cert, ca_key, "", 0)


def _demo_cert(ca: certs.CertFiles, cert_dir: Path, stem: str) -> certs.CertFiles:
    cert, key = cert_dir / "sim" / f"{stem}.crt", cert_dir / "sim" / f"{stem}.key"
    # One made before the profile is re-issued: the server refuses it (the demo repoints the DER).
    if cert.is_file() and key.is_file() and certs.on_profile(cert):
        return certs.load(cert, key)
    return certs.make_cert(ca, cert.parent, cert.stem)


def demo_clients(count: int, cert_dir: Path) -> list[SimClient]:
    """`count` direct-inverter clients with certificates `sim-{i}` signed by the CA in `cert_dir`
    (ca.crt / ca.key, as `run_sep2_server --demo-certs` makes them); made once, then reused.
    Their LFDIs must be enrolled in the registry for the server to accept them."""
    ca = _demo_ca(cert_dir)
    out = []
    for i in range(count):
        files = _demo_cert(ca, cert_dir, f"sim-{i}")
        out.append(SimClient(files.cert, files.key, files.lfdi, files.sfdi))
    return out


def aggregated_devices(count: int) -> tuple[SimDevice, ...]:
    """The EndDevices behind the demo aggregator. They never open a TLS connection of their own,
    so their identities are fixed numbers rather than certificates (same on every machine)."""
    lfdis = [
        hashlib.sha256(f"crest-demo-aggregated-{i}".encode()).hexdigest()[:40].upper() for i in range(count)
    ]
    return tuple(SimDevice(lfdi, sfdi_from_lfdi(lfdi)) for lfdi in lfdis)


def demo_aggregator(devices: int, cert_dir: Path) -> SimClient:
    """One aggregator client (certificate `sim/aggregator`) managing `aggregated_devices(devices)`;
    its LFDI must be the aggregator group's in the registry, the devices' LFDIs its members'."""
    files = _demo_cert(_demo_ca(cert_dir), cert_dir, "aggregator")
    return SimClient(files.cert, files.key, files.lfdi, files.sfdi, aggregated_devices(devices))


class SimHandle:
    """Clients running on a background event loop until stop()."""

    def __init__(
        self,
        base_url: str,
        ca: Path,
        clients: list[SimClient],
        poll_s: float | None,
        grid: DeviceField | None = None,
    ) -> None:
        self.stats, self.grid = SimStats(), grid
        self._loop = asyncio.new_event_loop()
        self._tasks: list[asyncio.Task[None]] = []
        self._thread = threading.Thread(
            target=self._run, args=(base_url, ca, clients, poll_s), name="sep2-sim", daemon=True
        )
        self._thread.start()

    def _run(self, base_url: str, ca: Path, clients: list[SimClient], poll_s: float | None) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._tasks = [
                asyncio.create_task(run_client_forever(base_url, ca, c, self.stats, poll_s, grid=self.grid))
                for c in clients
            ]
            await asyncio.gather(*self._tasks, return_exceptions=True)

        self._loop.run_until_complete(main())

    def stop(self) -> None:
        for task in self._tasks:
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(10)


def start(
    count: int,
    base_url: str = "https://127.0.0.1:8443",
    cert_dir: Path = Path(".data/sep2"),
    poll_s: float | None = None,
    aggregated: int = 0,
    grid: DeviceField | None = None,
) -> SimHandle:
    """`manage.py run_field_sim --sep2 M [--sep2-aggregated K]`: M direct-inverter clients and,
    with K > 0, one aggregator managing K devices, against the server at `base_url`."""
    clients = demo_clients(count, cert_dir)
    if aggregated:
        clients.append(demo_aggregator(aggregated, cert_dir))
    return SimHandle(base_url, cert_dir / "ca.crt", clients, poll_s, grid)
