from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.capability.engine.pv import add_pv
from apps.der_registry import actions
from apps.der_registry.engine.ieee1547 import DERRecord, Ratings
from apps.der_registry.models import DER
from apps.dms.actions import FeederError
from apps.dms.feeders import current_version, network_of


def pv_record(feeder: str, unit: Any, seed: int) -> DERRecord:
    s_kva = round(unit.s_rated_kva, 3)
    lfdi = hashlib.sha256(f"{feeder}/{seed}/{unit.name}".encode()).hexdigest()[:40].upper()
    return DERRecord(
        name=f"{feeder}-{unit.name}",
        serial_number=f"{feeder.upper()}-S{seed}-{unit.name}".upper(),
        der_type="pv",
        manufacturer="study",
        model="add_pv",
        nameplate=Ratings(
            active_power_kw=round(unit.p_avail_kw, 3),
            apparent_power_kva=s_kva,
            reactive_injected_kvar=s_kva,
            reactive_absorbed_kvar=s_kva,
            v_nominal_v=240.0,
            v_min_v=211.2,
            v_max_v=264.0,
        ),
        normal_category="B",
        abnormal_category="III",
        supported_modes=("active_reactive", "volt_var"),
        control_mode="active_reactive",
        feeder=feeder,
        bus=unit.bus,
        phases=tuple(unit.phases),
        ownership="customer",
        comm_path="sep2_direct",
        lfdi=lfdi,
    )


class Command(BaseCommand):
    help = (
        "Populate feeder NAME with single-phase PV DERs spread evenly over its load nodes and phases "
        "(PV peak = penetration × peak load; inverter rating = oversize × PV peak); enrolled active."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--penetration", type=float, default=0.9, help="PV peak / peak load")
        parser.add_argument("--count", type=int, default=100, help="about how many PV units")
        parser.add_argument("--oversize", type=float, default=1.1, help="inverter kVA / PV peak kW")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            net = network_of(current_version(name))
            units = add_pv(
                net,
                penetration=options["penetration"],
                count=options["count"],
                oversize=options["oversize"],
                seed=options["seed"],
            )
        except (FeederError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        records = [pv_record(name, u, options["seed"]) for u in units]
        taken = DER.objects.filter(serial_number__in=[r.serial_number for r in records]).count()
        if taken:
            raise CommandError(
                f"Feeder {name} already has {taken} of these PV units (seed "
                f"{options['seed']}); use another --seed or decommission them first."
            )
        created = []
        for rec in records:
            der = actions.do_enroll_der(None, "cli", rec)
            actions.do_transition_der(None, "cli", der.pk, "approved", "add_pv study population")
            created.append(actions.do_transition_der(None, "cli", der.pk, "active", "add_pv"))
        doc = {
            "feeder": name,
            "count": len(created),
            "pv_kw": round(sum(u.p_avail_kw for u in units), 3),
            "inverter_kva": round(sum(u.s_rated_kva for u in units), 3),
        }
        self.stdout.write(
            json.dumps(doc)
            if options["json"]
            else f"Added {doc['count']} PV units to {name}: {doc['pv_kw']} kW PV, "
            f"{doc['inverter_kva']} kVA of inverters."
        )
