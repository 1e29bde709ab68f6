from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.actions import FeederError
from apps.dms.cli import add_iterations_option
from apps.dms.engine.studies import validate
from apps.dms.feeders import current_version, network_of


class Command(BaseCommand):
    help = (
        "Compare LinDist3Flow with OpenDSS on a stored feeder: voltage and substation P/Q errors at "
        "the base case and across the load / PV sweep."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--base-only", action="store_true", help="skip the sweep")
        add_iterations_option(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            net = network_of(current_version(options["name"]))
        except FeederError as exc:
            raise CommandError(str(exc)) from exc
        rows = validate(net, sweep=not options["base_only"], iterations=options["iterations"])
        if options["json"]:
            doc = {"feeder": net.name, "iterations": options["iterations"], "rows": [asdict(r) for r in rows]}
            self.stdout.write(json.dumps(doc))
            return
        self.stdout.write(
            f"| {net.name} scenario | mean V err % | max V err % | worst node | P err % | Q err % "
            "| loads on a vmin/vmax step | max V err % from OpenDSS's solution |"
        )
        self.stdout.write("|---|--:|--:|---|--:|--:|--:|--:|")
        for r in rows:
            shared = "" if r.from_reference_max_v_err_pct is None else f"{r.from_reference_max_v_err_pct:.4f}"
            self.stdout.write(
                f"| {r.scenario} | {r.mean_v_err_pct:.4f} | {r.max_v_err_pct:.4f} | {r.worst_node} "
                f"| {r.p_err_pct:.3f} | {r.q_err_pct:.3f} | {r.law_step_loads or ''} | {shared} |"
            )
        worst = max(rows, key=lambda r: r.max_v_err_pct)
        self.stdout.write(
            f"Worst voltage error {worst.max_v_err_pct:.4f} % ({worst.scenario}, {worst.worst_node}); "
            f"worst Q error {max(r.q_err_pct for r in rows):.3f} % of substation S."
        )
        if any(r.law_step_loads for r in rows):
            self.stdout.write(
                "Rows with loads on a vmin/vmax step: those loads' power jumps at the step, the feeder "
                "has a solution on each side of it, and the two engines may settle on different ones. "
                "The last column starts LinDist3Flow at OpenDSS's solution with each load held on "
                "OpenDSS's side of its step: a small error there means OpenDSS's solution is one of "
                "LinDist3Flow's too."
            )
