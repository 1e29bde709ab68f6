from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.actions import FeederError, do_import_feeder


class Command(BaseCommand):
    help = (
        "Import an OpenDSS feeder (its master .dss file) as a new version of feeder NAME. The file is "
        "the user's own: it may name any file they can read, but, like an upload, may only define a "
        "circuit (no Export, Save, Show, CD, … ; docs/security.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the master .dss file")
        parser.add_argument("--name", required=True, help="feeder name: lower-case letters, digits, - or _")
        parser.add_argument("--description", default="")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No OpenDSS file at {path}.")
        try:
            version = do_import_feeder(None, "cli", path, options["name"], options["description"])
        except FeederError as exc:
            raise CommandError(str(exc)) from exc
        doc = {"feeder": version.feeder.name, "version": version.number, **version.summary}
        if options["json"]:
            self.stdout.write(json.dumps(doc))
        else:
            self.stdout.write(
                f"Imported {version.feeder.name} as version {version.number}: "
                + ", ".join(f"{v} {k}" for k, v in version.summary.items())
            )
