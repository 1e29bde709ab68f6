from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError


class Command(BaseCommand):
    help = (
        "Convert an OpenDSS feeder into the project's own JSON network format (stores nothing); "
        "the demo's feeders in apps/dms/fixtures/ are made with it."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", required=True)
        parser.add_argument("--output", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            net = read_network(options["path"], options["name"])
        except FeederImportError as exc:
            raise CommandError(str(exc)) from exc
        options["output"].write_text(json.dumps(net.to_dict(), separators=(",", ":")))
        self.stdout.write(f"Wrote {options['output']} ({len(net.buses)} buses, {len(net.lines)} lines).")
