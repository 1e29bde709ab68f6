from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.cli import add_iterations_option
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from apps.dms.engine.studies import ENGINES, result_json, run_powerflow


class Command(BaseCommand):
    help = (
        "Power flow of a stored feeder (NAME) or of an OpenDSS file (--dss PATH, stores nothing): "
        "node-phase voltages (pu) and substation P/Q drawn from the grid (kW, kvar)."
    )
    requires_system_checks: list[str] = []  # --dss needs no database and should start fast

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="a stored feeder")
        parser.add_argument("--dss", type=Path, help="an OpenDSS master file instead of a stored feeder")
        parser.add_argument("--engine", choices=ENGINES, default="lindist3flow")
        add_iterations_option(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        net = self._network(options["name"], options["dss"])
        try:
            result = run_powerflow(net, options["engine"], iterations=options["iterations"])
        except FeederImportError as exc:
            raise CommandError(str(exc)) from exc
        doc = result_json(result)
        if options["json"]:
            self.stdout.write(json.dumps(doc))
            return
        sub = doc["substation"]
        self.stdout.write(
            f"{net.name} ({options['engine']}): substation {sub['p_kw']:.1f} kW, {sub['q_kvar']:.1f} kvar"
        )
        for key, v_pu in doc["voltages"].items():
            self.stdout.write(f"  {key:<12} {v_pu:.5f} pu")

    def _network(self, name: str | None, dss: Path | None) -> Network:
        if (name is None) == (dss is None):
            raise CommandError("Give either a feeder NAME or --dss PATH (not both).")
        if dss is not None:
            if not dss.is_file():
                raise CommandError(f"No OpenDSS file at {dss}.")
            try:
                return read_network(dss, dss.stem.lower())
            except FeederImportError as exc:
                raise CommandError(str(exc)) from exc
        from apps.dms.actions import FeederError
        from apps.dms.feeders import current_version, network_of

        try:
            return network_of(current_version(str(name)))
        except FeederError as exc:
            raise CommandError(str(exc)) from exc
