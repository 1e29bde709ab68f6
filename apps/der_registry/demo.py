"""Demo registry on the IEEE 123-node feeder: deterministic, idempotent, made through do_* actions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path

from django.utils import timezone

from apps.der_registry import actions
from apps.der_registry.engine.ieee1547 import DERRecord, Ratings
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi
from apps.der_registry.models import DER, DERGroup
from apps.dms.actions import do_add_feeder_version
from apps.dms.engine.network import Network
from apps.dms.models import Feeder

FIXTURES = Path(__file__).resolve().parent.parent / "dms" / "fixtures"
FEEDERS = {"ieee123": "IEEE 123-node test feeder", "ieee13": "IEEE 13-node test feeder"}
SKIP_BUSES = {"150", "150r", "149", "sourcebus", "rg60", "650"}


def ensure_feeders() -> None:
    """The IEEE test feeders, as converted by our importer (manage.py convert_feeder)."""
    for name, description in FEEDERS.items():
        if not Feeder.objects.filter(name=name).exists():
            text = (FIXTURES / f"{name}.json").read_text()
            net = Network.from_dict(json.loads(text))
            do_add_feeder_version(
                None, "system", net, source_name=f"{name}.json", source_text=text, description=description
            )


def _record(i: int, bus: str, phase: int, rng: random.Random) -> DERRecord:
    kw = rng.choice([5.0, 7.6, 10.0, 11.4, 20.0])
    kva = round(kw * 1.1, 2)
    path = "dnp3_direct" if i % 12 == 0 else "via_aggregator" if i % 4 == 1 else "sep2_direct"
    lfdi = hashlib.sha256(f"demo-{i}".encode()).hexdigest()[:40].upper()
    weak = i % 25 == 7  # a few older inverters below the Category B reactive requirement
    return DERRecord(
        name=f"pv-{bus}-{phase}-{i:03d}",
        serial_number=f"DEMO-{i:05d}",
        der_type="pv",
        manufacturer=rng.choice(["SunWorks", "Invertix", "GridTie"]),
        model="ST-" + str(int(kw)),
        firmware_version="2.4.1",
        nameplate=Ratings(
            active_power_kw=kw,
            apparent_power_kva=kva,
            reactive_injected_kvar=round(kva * (0.3 if weak else 0.44), 2),
            reactive_absorbed_kvar=round(kva * (0.3 if weak else 0.44), 2),
            v_nominal_v=240.0,
            v_min_v=211.2,
            v_max_v=264.0,
        ),
        normal_category="B",
        abnormal_category="III",
        supported_modes=("active_reactive", "volt_var", "constant_pf"),
        control_mode="active_reactive",
        feeder="ieee123",
        bus=bus,
        phases=(phase,),
        ownership="utility" if path == "dnp3_direct" else "customer",
        comm_path=path,
        dnp3_host="127.0.0.1" if path == "dnp3_direct" else "",
        dnp3_port=20000 if path == "dnp3_direct" else None,
        dnp3_outstation_address=10 + i if path == "dnp3_direct" else None,
        dnp3_master_address=1 if path == "dnp3_direct" else None,
        lfdi=lfdi if path == "sep2_direct" else "",
        sfdi=sfdi_from_lfdi(lfdi) if path == "sep2_direct" else None,
        aggregator="demo-aggregator" if path == "via_aggregator" else "",
        expected_update_s=60,
    )


def seed_registry(count: int = 120) -> int:
    """Create the demo DERs unless they exist; returns how many were created."""
    ensure_feeders()
    if DER.objects.filter(serial_number__startswith="DEMO-").exists():
        return 0
    for name, kind in (("demo-aggregator", "aggregator"), ("north-microgrid", "microgrid")):
        if not DERGroup.objects.filter(name=name).exists():
            actions.do_create_group(None, "system", name, kind, "demo group")
    version = Feeder.objects.get(name="ieee123").current_version()
    assert version is not None
    slots = [
        (b.name, p)
        for b in version.buses.order_by("name")
        for p in b.phases
        if b.name not in SKIP_BUSES and not b.name.endswith("r")
    ]
    rng = random.Random(123)
    for i, (bus, phase) in enumerate(slots[:count]):
        der = actions.do_enroll_der(
            None, "system", _record(i, bus, phase, rng), groups=["north-microgrid"] if i % 10 == 3 else None
        )
        _advance(der, i, rng)
    return min(count, len(slots))


def _advance(der: DER, i: int, rng: random.Random) -> None:
    if i % 17 == 5:
        return  # stays pending: something for the admin to approve
    actions.do_transition_der(None, "system", der.pk, "approved", "demo")
    if i % 17 == 6:
        return
    actions.do_transition_der(None, "system", der.pk, "active", "demo")
    age_s = 600 if i % 13 == 2 else rng.uniform(1, 40)  # a few with stale telemetry
    actions.do_record_monitoring(
        None,
        "system",
        der.pk,
        {
            "t": timezone.now() - dt.timedelta(seconds=age_s),
            "p_kw": round(der.np_active_power_kw * rng.uniform(0.3, 0.9), 2),
            "q_kvar": round(rng.uniform(-1, 1), 2),
            "v_pu": round(rng.uniform(0.98, 1.03), 4),
            "f_hz": 60.0,
            "operating_state": "on",
            "connection_status": "connected",
        },
    )
    if i % 31 == 9:
        actions.do_transition_der(None, "system", der.pk, "suspended", "demo: inverter fault")


def play_telemetry(now: dt.datetime | None = None) -> int:
    """One round of simulated field telemetry for the active demo DERs; a few stay silent on
    purpose so the stale-telemetry display has something to show. Returns samples written."""
    now = now or timezone.now()
    rng = random.Random(int(now.timestamp()) // 20)
    written = 0
    for der in DER.objects.filter(status="active", serial_number__startswith="DEMO-"):
        if int(der.serial_number[5:]) % 13 == 2:
            continue
        actions.do_record_monitoring(
            None,
            "task",
            der.pk,
            {
                "t": now,
                "p_kw": round(der.np_active_power_kw * rng.uniform(0.55, 0.75), 2),
                "q_kvar": round(rng.uniform(-0.5, 0.5), 2),
                "v_pu": round(rng.uniform(0.99, 1.03), 4),
                "f_hz": round(rng.uniform(59.98, 60.02), 3),
                "operating_state": "on",
                "connection_status": "connected",
            },
        )
        written += 1
    return written
