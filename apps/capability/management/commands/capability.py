from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.capability.engine.curve import capability_curve, parse_headroom, to_json
from apps.capability.engine.pv import PVUnit, add_pv
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network


def _headroom(text: str) -> list[float]:
    """--headroom START:STOP:STEP checked by argparse, so a bad sweep is a usage error (exit 2)."""
    try:
        return parse_headroom(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _v_tm(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"--vtm must be greater than 0 pu (a finite number), not {text!r}.")
    return value


class Command(BaseCommand):
    help = (
        "Aggregated var capability curve of a feeder: q_min / q_max (kvar drawn at the substation) "
        "per headroom. NAME uses the registry's active DERs; --dss PATH places PV itself and stores "
        "nothing."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?")
        parser.add_argument("--dss", type=Path)
        parser.add_argument("--pv-count", type=int, default=100)
        parser.add_argument("--penetration", type=float, default=0.9)
        parser.add_argument("--oversize", type=float, default=1.1)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--headroom", type=_headroom, default="0:1:0.05", help="START:STOP:STEP, fractions of PV"
        )
        parser.add_argument("--vtm", type=_v_tm, default=1.0, help="transmission-side voltage (pu)")
        parser.add_argument("--sides", type=int, default=16, help="sides of the inverter polygon")
        parser.add_argument("--detail", action="store_true", help="include both solutions per point")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            net, units = self._inputs(options)
            curve = capability_curve(
                net, units, options["headroom"], v_tm=options["vtm"], sides=options["sides"]
            )
        except (ValueError, FeederImportError) as exc:
            raise CommandError(str(exc)) from exc
        doc = to_json(curve, detail=options["detail"])
        if options["json"]:
            self.stdout.write(json.dumps(doc))
            return
        self.stdout.write(f"{net.name}: q_base {doc['q_base_kvar']:.1f} kvar (drawn at the substation)")
        self.stdout.write("headroom   q_min kvar   q_max kvar   feasible")
        for p in doc["points"]:
            self.stdout.write(
                f"{p['headroom']:8.3f} {p['q_min_kvar']:12.1f} {p['q_max_kvar']:12.1f}   "
                f"{'yes' if p['feasible'] else 'NO'}"
            )

    def _inputs(self, options: dict[str, Any]) -> tuple[Network, list[PVUnit]]:
        name, dss = options["name"], options["dss"]
        if (name is None) == (dss is None):
            raise ValueError("Give either a feeder NAME or --dss PATH (not both).")
        if dss is not None:
            if not dss.is_file():
                raise ValueError(f"No OpenDSS file at {dss}.")
            net = read_network(dss, dss.stem.lower())
            return net, add_pv(
                net,
                penetration=options["penetration"],
                count=options["pv_count"],
                oversize=options["oversize"],
                seed=options["seed"],
            )
        from apps.capability.inputs import registry_pv_units
        from apps.dms.actions import FeederError
        from apps.dms.feeders import current_version, network_of

        try:
            version = current_version(str(name))
        except FeederError as exc:
            raise ValueError(str(exc)) from exc
        units = registry_pv_units(version.feeder)
        if not units:
            raise ValueError(f"Feeder {name} has no active DERs; add some (e.g. manage.py add_pv {name}).")
        return network_of(version), units
