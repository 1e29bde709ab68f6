from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ems.engine.case import CASES, DEFAULT_CASE, parse_injection
from apps.ems.engine.whatif import describe, run_whatif


class Command(BaseCommand):
    help = (
        "What-if AC power flow (Newton–Raphson) of a standard transmission case with DER injections "
        "and branch outages, named by the case's own bus numbers: bus voltages (pu), generator Q (Mvar), "
        "losses (MW). Stores nothing and needs no database."
    )
    requires_system_checks: list[str] = []  # no database, starts fast

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", default=DEFAULT_CASE, help=f"one of {', '.join(CASES)}")
        parser.add_argument(
            "--injection",
            action="append",
            default=[],
            metavar="BUS:P_MW:Q_MVAR",
            help="a DER injection into the grid at a bus (reduces its net load); repeatable",
        )
        parser.add_argument(
            "--outage",
            action="append",
            default=[],
            metavar="FROM-TO",
            help="a line or transformer out; repeatable",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            injections = [parse_injection(text) for text in options["injection"]]
            result = run_whatif(options["case"], injections, options["outage"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
            return
        self.stdout.write(
            f"{describe(result.case, injections, options['outage'])}: losses {result.losses_mw:.3f} MW"
        )
        self.stdout.write("  bus   vm_pu")
        for bus, vm_pu in result.buses.items():
            self.stdout.write(f"  {bus:>4}  {vm_pu:.5f}")
        self.stdout.write("  generator bus   q_mvar")
        for bus, q_mvar in result.generators.items():
            self.stdout.write(f"  {bus:>13}  {q_mvar:9.3f}")
