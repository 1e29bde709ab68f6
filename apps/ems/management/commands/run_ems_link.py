"""Send each EMS→DMS message of a stored OPF run to its DSO's DMS over DNP3 and record the answers
(achieved Q, next interval's capability, DMS health), per docs/protocols/dnp3-ems-dms.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ems.engine.dso_answer import dms_view
from apps.ems.link import SendReport, send_run
from apps.ems.sending import ANSWER_TIMEOUT_S, CONNECT_TIMEOUT_S, LinkError
from crest_web.cli import positive


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, help="the OPF run's id (default: the newest run)")
        parser.add_argument(
            "--answer-timeout",
            type=positive,
            default=ANSWER_TIMEOUT_S,
            help="seconds to wait for the DMS answers",
        )
        parser.add_argument(
            "--connect-timeout", type=positive, default=CONNECT_TIMEOUT_S, help="seconds to connect"
        )
        parser.add_argument("--tls-dir", type=Path, help="ca.pem, master.pem, master.key for TLS DSOs")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            report = send_run(
                opts["run"],
                None,
                "cli",
                tls_dir=opts["tls_dir"],
                connect_timeout_s=opts["connect_timeout"],
                answer_timeout_s=opts["answer_timeout"],
            )
        except LinkError as exc:
            raise CommandError(str(exc)) from exc
        self._report(report, opts["json"])

    def _report(self, report: SendReport, as_json: bool) -> None:
        rows = [
            {"bus": m.bus, "dso": e.name, "message": m.pk, "q_request_kvar": m.q_request_kvar, **r.__dict__}
            for m, e, r in report.sent
        ]
        if as_json:
            doc = {
                "run": report.run.pk,
                "dsos": rows,
                "no_endpoint": report.no_endpoint,
                "count_mismatch": report.mismatched,
            }
            self.stdout.write(json.dumps(doc))
            return
        for row in rows:
            if row["error"]:
                self.stdout.write(f"bus {row['bus']} ({row['dso']}): {row['error']}")
                continue
            self.stdout.write(
                f"bus {row['bus']} ({row['dso']}): asked {row['q_request_kvar']:.1f} kvar, achieved "
                f"{row['q_achieved_kvar']:.1f} kvar per feeder; next [{row['q_min_next_kvar']:.1f}, "
                f"{row['q_max_next_kvar']:.1f}] kvar; DMS {'healthy' if row['dms_healthy'] else 'UNHEALTHY'}"
                f"{', fallback active' if row['fallback_active'] else ''}"
            )
            if row["dms_q_received_kvar"] is not None:
                self.stdout.write(f"    the DMS: {dms_view_of(row)}")
        for bus in report.no_endpoint:
            self.stdout.write(f"bus {bus}: no DSO endpoint, not sent")
        for reason in report.mismatched:
            self.stdout.write(f"{reason}; not sent")


def dms_view_of(row: dict[str, Any]) -> str:
    return dms_view(
        row["dms_q_received_kvar"],
        row["dms_feeder_count"],
        row["dms_q_achieved_kvar"],
        row["dms_q_shortfall_kvar"],
        row["dms_shortfall_cause"],
        row["dms_violations_left"],
    )
