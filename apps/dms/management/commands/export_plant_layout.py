"""Write the plant simulator's layout from the control room's records: each feeder's network model as
the DMS solves it (`dispatch_network`: as imported, less the file's DERs the registry has active), its
active DERs with their effective ratings and where they answer (DNP3 port and address, or their
2030.5 LFDI), where each feeder hangs from the transmission case, and its RTU's port. The plant
(`manage.py run_plant --layout FILE`) reads this file and nothing else of the control room."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.dms.feeders import dispatch_network
from apps.dms.models import Feeder
from apps.standards import dnp3_profile
from apps.standards.scenarios import NETWORK_TIERS

RTU_ADDRESS = 10
SKIES = ("clear", "cloudy")


def tie(text: str) -> tuple[str, int, int]:
    """FEEDER:BUS[:COUNT]"""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ValueError(text)
    bus, count = int(parts[1]), int(parts[2]) if len(parts) == 3 else 1
    if bus < 1 or count < 1:
        raise ValueError(text)
    return parts[0], bus, count


def rtu_pin(text: str) -> tuple[str, int]:
    """FEEDER:PORT"""
    name, _, port = text.partition(":")
    if not name or not port.isdigit() or not 1024 <= int(port) <= 65535:
        raise ValueError(text)
    return name, int(port)


def rtu_ports(names: list[str], base: int, pinned: dict[str, int]) -> dict[str, int]:
    """Each feeder's RTU port: a pinned one where the gateway is told to read it, the others the next
    free ports from `base` in the order given."""
    ports, taken, port = dict(pinned), set(pinned.values()), base
    for name in names:
        if name in ports:
            continue
        while port in taken:
            port += 1
        ports[name], port = port, port + 1
    return ports


def der_doc(der: Any) -> dict[str, Any]:
    eff = {k: float(v.value or 0.0) for k, v in der.effective().items()}
    doc: dict[str, Any] = {
        "name": der.name,
        "feeder": der.feeder.name,
        "bus": der.bus,
        "phases": list(der.phases),
        "p_max_kw": eff["active_power_kw"],
        "q_inj_max_kvar": eff["reactive_injected_kvar"],
        "q_abs_max_kvar": eff["reactive_absorbed_kvar"],
        "s_max_kva": eff["apparent_power_kva"],
        "array_kw": eff["active_power_kw"],
    }
    if der.comm_path == "dnp3_direct" and der.dnp3_port and der.dnp3_host in ("127.0.0.1", "localhost", ""):
        doc["dnp3"] = {
            "port": der.dnp3_port,
            "address": der.dnp3_outstation_address or 0,
            "map": der.dnp3_point_map or dnp3_profile.DEFAULT_POINT_MAP,
        }
    elif der.lfdi:
        doc["lfdi"] = der.lfdi
    return doc


def place_behind_tiers(ders: list[dict[str, Any]], tiers: str) -> None:
    """Put the DERs a protocol reaches (DNP3, IEEE 2030.5) behind network tiers: one for all, or
    "mixed" — LAN, WAN, FAN and NAN in turn, the DNP3 DERs by port, the 2030.5 devices by LFDI."""
    if tiers == "none":
        return
    dnp3 = sorted((d for d in ders if "dnp3" in d), key=lambda d: (d["dnp3"]["port"], d["name"]))
    sep2 = sorted((d for d in ders if "lfdi" in d), key=lambda d: d["lfdi"])
    for group in (dnp3, sep2):
        for i, d in enumerate(group):
            d["tier"] = NETWORK_TIERS[i % len(NETWORK_TIERS)] if tiers == "mixed" else tiers


class Command(BaseCommand):
    help = __doc__ or ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=Path(".data/plant/layout.json"))
        parser.add_argument(
            "--feeder", action="append", default=[], metavar="NAME", help="(repeatable; default: all)"
        )
        parser.add_argument(
            "--tie", type=tie, action="append", default=[], metavar="FEEDER:BUS[:COUNT]",
            help="the feeder hangs from this bus of the transmission case, COUNT copies of it (repeatable)",
        )  # fmt: skip
        parser.add_argument("--case", default="case9", help="the transmission case (default case9)")
        parser.add_argument(
            "--rtu-base-port",
            type=int,
            default=20700,
            help="RTU ports, one per feeder from here, in the order the feeders were first imported",
        )
        parser.add_argument(
            "--rtu-port", type=rtu_pin, action="append", default=[], metavar="FEEDER:PORT",
            help="this feeder's RTU on this port, where a gateway's --rtu reads it (repeatable)",
        )  # fmt: skip
        parser.add_argument(
            "--tiers", choices=["none", "mixed", *NETWORK_TIERS], default="none",
            help="the network tier the DERs' links cross (DNP3: a relay in the plant; 2030.5: the device's "
            "own link): one for all, or mixed: LAN, WAN, FAN and NAN in turn (default none: direct)",
        )  # fmt: skip
        parser.add_argument(
            "--cloudy", action="append", default=[], metavar="FEEDER", help="a cloudy day here"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        # In the order they were first imported: each feeder's RTU port (base + its place) stays put
        # when a feeder is added, whatever its name.
        feeders = list(Feeder.objects.order_by("pk"))
        if o["feeder"]:
            unknown = sorted(set(o["feeder"]) - {f.name for f in feeders})
            if unknown:
                raise CommandError(f"There is no feeder named {', '.join(unknown)}.")
            feeders = [f for f in feeders if f.name in o["feeder"]]
        versions = {f.name: f.current_version() for f in feeders}
        # The feeder as the DMS solves it: an active DER enrolled from one of the file's elements is a
        # device of its own below, so the element's fixed injection leaves the model (one device, once).
        with_model = {name: v for name, v in versions.items() if v is not None and v.model}
        models = {name: dispatch_network(v)[0].to_dict() for name, v in with_model.items()}
        feeders = [f for f in feeders if f.name in models]
        names = {f.name for f in feeders}
        for name in [t[0] for t in o["tie"]] + o["cloudy"] + [t[0] for t in o["rtu_port"]]:
            if name not in names:
                raise CommandError(f"{name} is not one of the exported feeders ({', '.join(sorted(names))}).")
        if not 1024 <= o["rtu_base_port"] <= 65535 - 2 * len(feeders):
            raise CommandError("--rtu-base-port must leave room for one port per feeder within 1024…65535.")
        pinned = dict(o["rtu_port"])
        if len(set(pinned.values())) < len(pinned):
            raise CommandError("--rtu-port: two feeders' RTUs cannot share a port.")
        rtu = rtu_ports([f.name for f in feeders], o["rtu_base_port"], pinned)
        ties = {name: (bus, count) for name, bus, count in o["tie"]}
        doc = {
            "case": o["case"],
            "feeders": [
                {
                    "model": {**models[f.name], "name": f.name},
                    "tie_bus": ties.get(f.name, (None, 1))[0],
                    "feeder_count": ties.get(f.name, (None, 1))[1],
                    "sky": "cloudy" if f.name in o["cloudy"] else "clear",
                    "rtu": {"port": rtu[f.name], "address": RTU_ADDRESS},
                }
                for f in feeders
            ],
            "ders": [
                der_doc(d)
                for f in feeders
                for d in f.ders.filter(status="active").select_related("feeder").order_by("name")
            ],
        }
        place_behind_tiers(doc["ders"], o["tiers"])
        o["out"].parent.mkdir(parents=True, exist_ok=True)
        o["out"].write_text(json.dumps(doc))
        self.stdout.write(
            f"Plant layout: {len(feeders)} feeder(s), {len(doc['ders'])} DER(s) → {o['out']}", ending="\n"
        )
