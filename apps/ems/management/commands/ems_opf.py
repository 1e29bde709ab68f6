from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ems.engine.case import CASES, DEFAULT_CASE, register_upload
from apps.ems.engine.dso import DSO_SYNTAX, parse_dso, seed_004_dsos
from apps.ems.engine.opf import run_opf
from apps.ems.engine.volt_var_lp import Weights


class Command(BaseCommand):
    help = (
        "Volt/var OPF of a transmission case with DSO interfaces (buses by the case's own numbers): "
        "generator set points, shunt steps and each DSO's Q request, AC-verified. Needs no database "
        "unless --store keeps the run and its EMS→DMS messages."
    )
    requires_system_checks: list[str] = []  # no database unless storing, starts fast

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", default=DEFAULT_CASE, help=f"one of {', '.join(CASES)}")
        parser.add_argument(
            "--dso",
            action="append",
            default=[],
            metavar=DSO_SYNTAX,
            help="a DSO interface: bus × feeders, per-feeder Q capability (kvar), optional base P/Q, "
            "curtailable PV and demand response (kW); repeatable. With --store and neither --dso nor "
            "--seed-dsos: the registered DSO interfaces and the ranges they last reported",
        )
        parser.add_argument("--case-file", default="", help="a MATPOWER case file (.m) instead of --case")
        parser.add_argument("--seed-dsos", action="store_true", help="seed 004's DSOs at buses 5, 7, 9")
        parser.add_argument("--outage", action="append", default=[], metavar="FROM-TO", help="repeatable")
        parser.add_argument("--voltage-weight", type=float, default=Weights().voltage)
        parser.add_argument("--interval", default="", help="interval start, ISO 8601 (default: now)")
        parser.add_argument("--store", action="store_true", help="store the run and its DSO messages")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            dsos = [parse_dso(text) for text in options["dso"]]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["seed_dsos"]:
            dsos += seed_004_dsos()
        if options["case_file"]:
            options["case_text"] = self._read(options["case_file"])
        if options["store"]:
            doc = self._store(dsos, options)
        else:
            try:
                case = register_upload(options["case_text"]) if options["case_file"] else options["case"]
                doc = run_opf(case, dsos, options["outage"], Weights(options["voltage_weight"])).as_json()
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(doc))
            return
        self._table(doc)

    def _store(self, dsos: list[Any], options: dict[str, Any]) -> dict[str, Any]:
        from apps.ems.actions import OpfError, do_run_opf, registered_dsos

        if not options["dso"] and not options["seed_dsos"]:
            dsos = registered_dsos()

        interval = None
        if options["interval"]:
            try:
                interval = dt.datetime.fromisoformat(options["interval"])
            except ValueError as exc:
                raise CommandError(f"Bad --interval {options['interval']!r}: write ISO 8601.") from exc
            if interval.tzinfo is None:
                interval = interval.replace(tzinfo=dt.UTC)
        try:
            run = do_run_opf(
                None,
                "cli",
                options["case"],
                dsos,
                options["outage"],
                interval_start=interval,
                voltage_weight=options["voltage_weight"],
                case_file=options.get("case_text", ""),
            )
        except OpfError as exc:
            raise CommandError(str(exc)) from exc
        return {"id": run.pk, **run.result}

    @staticmethod
    def _read(path: str) -> str:
        try:
            return Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the case file {path}: {exc}.") from exc

    def _table(self, doc: dict[str, Any]) -> None:
        self.stdout.write(
            f"{doc['title']}: {doc['iterations']} LPs, losses {doc['losses_mw_before']:.3f} → "
            f"{doc['losses_mw']:.3f} MW, objective {doc['objective_mw']:.3f} (AC-verified)"
        )
        self.stdout.write("  generator bus  v_set_pu   q_mvar")
        for bus, g in doc["generators"].items():
            self.stdout.write(f"  {bus:>13}  {g['v_set_pu']:.4f}  {g['q_mvar']:8.2f}")
        self.stdout.write("  DSO bus  feeders  q_request_kvar  v_pu    pv_curtailment_kw  dr_kw")
        for d in doc["dsos"]:
            self.stdout.write(
                f"  {d['bus']:>7}  {d['count']:>7}  {d['q_request_kvar']:14.1f}  {d['v_pu']:.4f}"
                f"  {d['pv_curtailment_kw']:17.1f}  {d['dr_kw']:5.1f}"
            )
