"""The grid simulator: steps the feeders and the transmission case of a layout on the plant clock and
serves them over DNP3 (DER outstations, one RTU per feeder) and IEEE 2030.5 (device clients), as a
real field network would. Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.plant.engine.clock import DEMO_RATIO, DEMO_START_HOUR, STEP_S, PlantClock
from apps.plant.engine.control import ControlApi
from apps.plant.engine.layout import Layout, LayoutError
from apps.plant.engine.server import PlantServer, Sep2Clients


def link(text: str) -> tuple[str, int, int]:
    """NAME=LISTEN:TARGET"""
    name, _, ports = text.partition("=")
    listen, _, target = ports.partition(":")
    if not name or not listen.isdigit() or not target.isdigit():
        raise ValueError(text)
    if not (1024 <= int(listen) <= 65535 and 1024 <= int(target) <= 65535) or listen == target:
        raise ValueError(text)
    return name, int(listen), int(target)


class Command(BaseCommand):
    help = __doc__ or ""
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--layout", type=Path, default=Path(".data/plant/layout.json"))
        parser.add_argument(
            "--demo-clock", action="store_true",
            help=f"a day compressed {DEMO_RATIO:g}× from dawn (default: real time)",
        )  # fmt: skip
        parser.add_argument(
            "--start-hour", type=float, metavar="H", help="the simulated day starts at this hour (UTC, 0…24)"
        )
        parser.add_argument("--ratio", type=float, help="simulated seconds per wall-clock second")
        parser.add_argument("--step", type=float, default=STEP_S, help="simulated seconds per step")
        parser.add_argument("--truth", type=Path, help="append each step's true state here (JSON lines)")
        parser.add_argument(
            "--truth-every", type=int, default=1, metavar="N", help="record every N-th step only (default 1)"
        )
        parser.add_argument(
            "--control-port", type=int, metavar="P",
            help="serve the instructor API (scenarios) on 127.0.0.1:P; its token from CREST_PLANT_TOKEN",
        )  # fmt: skip
        parser.add_argument(
            "--link", type=link, action="append", default=[], metavar="NAME=LISTEN:TARGET",
            help="relay DSO NAME's EMS–DMS link: the EMS dials LISTEN, the DMS serves TARGET (repeatable)",
        )  # fmt: skip
        parser.add_argument("--sep2", type=int, default=0, metavar="M", help="IEEE 2030.5 device clients")
        parser.add_argument("--sep2-aggregated", type=int, default=0, metavar="K")
        parser.add_argument("--sep2-url", default="https://127.0.0.1:8443")
        parser.add_argument("--sep2-certs", type=Path, default=Path(".data/sep2"))
        parser.add_argument("--sep2-poll", type=float, metavar="S")

    def handle(self, *args: Any, **o: Any) -> None:
        _check(o)
        try:
            layout = Layout.read(o["layout"])
        except LayoutError as exc:
            raise CommandError(f"Cannot simulate this layout: {exc}") from exc
        clock = _clock(o, time.time())
        if o["truth"] is not None:
            o["truth"].parent.mkdir(parents=True, exist_ok=True)
        links = {name: (listen, target) for name, listen, target in o["link"]}
        server = PlantServer(layout, clock, o["step"], o["truth"], o["truth_every"], links)
        sep2 = Sep2Clients(o["sep2"], o["sep2_aggregated"], o["sep2_url"], o["sep2_certs"], o["sep2_poll"])
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            server.start(sep2)
        except (FileNotFoundError, ValueError) as exc:
            server.stop()
            raise CommandError(f"Cannot start the 2030.5 clients: {exc}") from exc
        except OSError as exc:
            server.stop()
            raise CommandError(f"Cannot open the plant's ports: {exc}") from exc
        control = None
        if o["control_port"] is not None:
            try:
                control = ControlApi(o["control_port"], server, os.environ.get("CREST_PLANT_TOKEN", ""))
            except (OSError, OverflowError) as exc:
                server.stop()
                raise CommandError(
                    f"Cannot serve the instructor API on port {o['control_port']}: {exc}"
                ) from exc
            control.start()
        dnp3 = len(server.der_stations)
        self.stdout.write(
            f"Plant: {len(layout.feeders)} feeder(s), {len(layout.ders)} DER(s) ({dnp3} over DNP3, "
            f"{len(server.sep2_lfdi)} over IEEE 2030.5), {len(server.rtus)} RTU(s); clock ×{clock.ratio:g} "
            f"from {clock.sim_start:%Y-%m-%d %H:%M} UTC, a step every {o['step']:g} s simulated. "
            "Ctrl-C stops.",
            ending="\n",
        )
        self.stdout.flush()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if control is not None:
                control.stop()
            server.stop()
            from apps.dms.engine.dnp3.stack import shutdown_manager

            shutdown_manager()


def _check(o: dict[str, Any]) -> None:
    if o["sep2"] < 0 or o["sep2_aggregated"] < 0:
        raise CommandError("--sep2 and --sep2-aggregated count devices; give 0 or more.")
    if o["ratio"] is not None and not o["ratio"] > 0:
        raise CommandError("--ratio is simulated seconds per second; give more than 0.")
    if o["sep2_poll"] is not None and not o["sep2_poll"] > 0:
        raise CommandError("--sep2-poll is a period in seconds; give more than 0.")
    if o["truth_every"] < 1:
        raise CommandError("--truth-every counts steps; give 1 or more.")
    if not o["step"] > 0:
        raise CommandError("--step is a number of simulated seconds; give more than 0.")


def _clock(o: dict[str, Any], now: float) -> PlantClock:
    """Real time from now, or the demo's day from dawn, or a day from --start-hour; --ratio faster."""
    ratio = o["ratio"] or (DEMO_RATIO if o["demo_clock"] else 1.0)
    hour = o["start_hour"] if o["start_hour"] is not None else (DEMO_START_HOUR if o["demo_clock"] else None)
    try:
        if hour is None:
            return PlantClock(PlantClock.real_time(now).sim_start, now, ratio)
        return PlantClock.from_hour(now, hour, ratio)
    except ValueError as exc:
        raise CommandError(f"--start-hour: {exc}.") from exc
