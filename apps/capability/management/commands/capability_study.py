from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.capability import actions
from apps.capability.models import CapabilityStudy
from apps.capability.runner import run_study


class Command(BaseCommand):
    help = (
        "Run a capability study on a stored feeder in this process and store it like the planner page "
        "does: headroom, live, vtm, day_ahead, compliance, unbalance or penetration."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=CapabilityStudy.Kind.values)
        parser.add_argument("name", help="a stored feeder")
        parser.add_argument("--headroom", default="0:1:0.05", help="START:STOP:STEP, fractions of PV")
        parser.add_argument("--vtm", type=float, default=1.0)
        parser.add_argument("--sides", type=int, default=16)
        parser.add_argument("--vtm-range", default="0.85:1.2:0.05", help="vtm study: START:STOP:STEP")
        parser.add_argument("--penetration", type=float, default=0.9)
        parser.add_argument("--count", type=int, default=100)
        parser.add_argument("--oversize", type=float, default=1.1)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--load-shape", default="", help="day_ahead: 24 values")
        parser.add_argument("--pv-shape", default="", help="day_ahead: 24 values")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        extra = {
            "v_tm_range": options["vtm_range"],
            "penetration": options["penetration"],
            "count": options["count"],
            "oversize": options["oversize"],
            "seed": options["seed"],
            "load_shape": options["load_shape"],
            "pv_shape": options["pv_shape"],
        }
        try:
            study = actions.do_start_study(
                None,
                "cli",
                options["name"],
                headroom=options["headroom"],
                v_tm=options["vtm"],
                sides=options["sides"],
                kind=options["kind"],
                extra=extra,
                enqueue=False,
            )
        except actions.StudyError as exc:
            raise CommandError(str(exc)) from exc
        run_study(study.pk)
        study.refresh_from_db()
        if study.status != CapabilityStudy.Status.DONE:
            raise CommandError(f"Study {study.pk} {study.status}: {study.error}")
        doc = {
            "study": study.pk,
            "kind": study.kind,
            "feeder": options["name"],
            "version": study.feeder_version.number,
            **study.result,
            "validation": study.validation,
            "compute_s": round(study.compute_s or 0.0, 3),
        }
        self.stdout.write(
            json.dumps(doc)
            if options["json"]
            else f"Study {study.pk} ({study.get_kind_display()}) done in {doc['compute_s']} s; "
            f"see /capability/{study.pk}/ or add --json."
        )
