"""A trainer's scenario in the plant simulator, from the command line (as the trainer panel):
`scenario start KIND …`, `scenario end ID`, `scenario list`. Audited as source "cli"."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.standards.scenarios import KINDS
from apps.training.actions import ScenarioError, do_end_scenario, do_start_scenario
from apps.training.api import scenario_doc
from apps.training.models import Scenario


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        start = sub.add_parser("start", help="start a scenario")
        start.add_argument("kind", choices=KINDS)
        start.add_argument("--feeder", action="append", default=[], help="(repeatable) cloud, load_step")
        start.add_argument("--der", default="", help="der_ignores, der_trips")
        start.add_argument("--branch", default="", help="line_outage: FROM-TO of the case")
        start.add_argument("--tier", default="", help="segment_lost: lan, wan, fan or nan")
        start.add_argument("--link", default="", help="link_lost: the DSO interface's name")
        start.add_argument("--factor", help="cloud: share of the sun left; load_step: load multiplier")
        start.add_argument("--in", dest="start_in_s", default="0", help="seconds from now (default 0)")
        start.add_argument("--duration", dest="duration_s", required=True, help="seconds")
        start.add_argument("--json", action="store_true")
        end = sub.add_parser("end", help="end a running scenario now")
        end.add_argument("id", type=int)
        end.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="the last scenarios")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            if o["what"] == "start":
                keys = ("kind", "der", "branch", "tier", "link", "factor", "start_in_s", "duration_s")
                doc = {k: o[k] for k in keys}
                scenarios = [do_start_scenario(None, "cli", {**doc, "feeders": o["feeder"]})]
            elif o["what"] == "end":
                scenarios = [do_end_scenario(None, "cli", o["id"])]
            else:
                scenarios = list(Scenario.objects.all()[:30])
        except ScenarioError as exc:
            raise CommandError(str(exc)) from exc
        if o["json"]:
            self.stdout.write(json.dumps([scenario_doc(s) for s in scenarios], indent=2))
            return
        for s in scenarios:
            self.stdout.write(
                f"{s.pk}: {s.label()}, {s.start_at:%H:%M:%S}–{s.end_at:%H:%M:%S} UTC, "
                f"{s.get_status_display()}"
            )
