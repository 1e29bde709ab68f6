"""Run one coordination cycle now, for the current interval: collect, the EMS volt/var OPF within
each registered DSO's last reported range, the requests to the DSOs over DNP3 and their answers.
Prints the cycle and its stages (--json: one JSON document)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.cycle import actions
from apps.cycle.documents import cycle_doc
from apps.cycle.engine.schedule import seconds_to_next
from apps.cycle.runner import CycleOptions, run_ems_half
from apps.ems.engine.case import CASES, DEFAULT_CASE
from apps.ems.sending import configured_tls_dir


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", choices=CASES, default=DEFAULT_CASE, help="the transmission case")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds: 300, 600 or 900 (default: the configured interval)",
        )
        parser.add_argument("--tls-dir", type=Path, help="ca.pem, master.pem, master.key for TLS DSOs")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        interval_s = opts["interval"] or actions.control().interval_s
        now = timezone.now()
        try:
            cycle, opened = actions.do_open_cycle(
                None, "cli", at=now, interval_s=interval_s, trigger="manual"
            )
        except actions.CycleError as exc:
            raise CommandError(str(exc)) from exc
        if not opened:
            wait = seconds_to_next(now.timestamp(), interval_s)
            raise CommandError(
                f"The interval starting {cycle.interval_start:%H:%M:%S} UTC has its cycle already "
                f"(cycle {cycle.pk}, {cycle.status}); the next interval starts in {wait:.0f} s."
            )
        options = CycleOptions(opts["case"], opts["tls_dir"] or configured_tls_dir())
        ended = run_ems_half(cycle.pk, options)
        doc = cycle_doc(ended)
        if opts["json"]:
            self.stdout.write(json.dumps(doc, indent=2))
            return
        self.stdout.write(f"Cycle {doc['id']} for {doc['interval_start']}: {doc['status']}. {doc['detail']}")
        for s in doc["stages"]:
            took = "running" if s["duration_s"] is None else f"{s['duration_s']:.1f} s"
            self.stdout.write(
                f"  {s['label']:<45} {took:>9} of {s['budget_s']:.0f} s  {s['outcome']:<8} {s['detail']}"
            )
