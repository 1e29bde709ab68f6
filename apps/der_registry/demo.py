"""Demo registry on the IEEE 123-node feeder: deterministic, idempotent, made through do_* actions.
Its protocol DERs are pointed at the plant simulator's devices (`connect_field`): every live demo
DER answers over DNP3 or IEEE 2030.5, so everything the board shows of them came through a
protocol from the simulated grid. Keep the counts below in step with the `plant` line of the
Procfile."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.utils import timezone

from apps.der_registry import actions
from apps.der_registry.adapters import record_from_der
from apps.der_registry.engine.ieee1547 import DERRecord, Ratings
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.engine.sep2 import certs, sim_fleet
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi
from apps.der_registry.models import DER, DERGroup
from apps.dms.actions import do_add_feeder_version
from apps.dms.engine.network import Network
from apps.dms.models import Feeder

FIXTURES = Path(__file__).resolve().parent.parent / "dms" / "fixtures"
FEEDERS = {"ieee123": "IEEE 123-node test feeder", "ieee13": "IEEE 13-node test feeder"}
SKIP_BUSES = {"150", "150r", "149", "sourcebus", "rg60", "650"}
AGGREGATOR = "demo-aggregator"
# What the plant serves in the demo (Procfile): DNP3 outstations on consecutive loopback ports at
# one link address, 2030.5 device clients, and devices behind one aggregator client — as many as
# the default seed has live DERs of each kind (the deliberately silent ones get no device).
DNP3_HOST, DNP3_BASE_PORT, DNP3_ADDRESS = "127.0.0.1", 20000, 10
DNP3_DEVICES, SEP2_DEVICES, SEP2_AGGREGATED = 24, 55, 19
IEEE1815_2_EVERY = 4  # one demo DNP3 DER in four serves the IEEE 1815.2 map
CKT5_SERIAL = "CKT5-PV-"  # ckt5's rooftop PV, behind the aggregator after these (demo_ckt5.py)
SIM_RATINGS = (10.0, 11.0, 4.84)  # run_field_sim's inverter: P max kW, S max kVA, Q max kvar


def ensure_feeders() -> None:
    """The IEEE test feeders, as converted by our importer (manage.py convert_feeder). A feeder
    whose current version has no network model (an older demo database) gets a new version from
    the shipped fixture, so it can be dispatched; older versions stay for replay."""
    for name, description in FEEDERS.items():
        feeder = Feeder.objects.filter(name=name).first()
        version = feeder.current_version() if feeder is not None else None
        if version is None or not version.model:
            text = (FIXTURES / f"{name}.json").read_text()
            net = Network.from_dict(json.loads(text))
            do_add_feeder_version(
                None, "system", net, source_name=f"{name}.json", source_text=text, description=description
            )


def _record(i: int, bus: str, phase: int, rng: random.Random, dnp3_base_port: int) -> DERRecord:
    kw = rng.choice([5.0, 7.6, 10.0, 11.4, 20.0])
    kva = round(kw * 1.1, 2)
    path = "dnp3_direct" if i % 5 == 0 else "via_aggregator" if i % 4 == 1 else "sep2_direct"
    lfdi = hashlib.sha256(f"demo-{i}".encode()).hexdigest()[:40].upper()
    weak = i % 25 == 7  # a few older inverters below the Category B reactive requirement
    q_kvar = round(kva * (0.3 if weak else 0.44), 2)
    if path == "dnp3_direct":  # utility units: the simulated outstation's ratings
        kw, kva, q_kvar = SIM_RATINGS
    return replace(
        inverter(f"pv-{bus}-{phase}-{i:03d}", f"DEMO-{i:05d}", (kw, kva, q_kvar), rng),
        feeder="ieee123",
        bus=bus,
        phases=(phase,),
        ownership="utility" if path == "dnp3_direct" else "customer",
        comm_path=path,
        dnp3_host=DNP3_HOST if path == "dnp3_direct" else "",
        dnp3_port=dnp3_base_port + i // 5 if path == "dnp3_direct" else None,
        dnp3_outstation_address=DNP3_ADDRESS if path == "dnp3_direct" else None,
        dnp3_master_address=1 if path == "dnp3_direct" else None,
        lfdi=lfdi if path == "sep2_direct" else "",
        sfdi=sfdi_from_lfdi(lfdi) if path == "sep2_direct" else None,
        aggregator=AGGREGATOR if path == "via_aggregator" else "",
        expected_update_s=60,
    )


def inverter(name: str, serial: str, ratings: tuple[float, float, float], rng: random.Random) -> DERRecord:
    """A demo PV inverter on a 240 V service: (P kW, S kVA, Q kvar both ways), Category B / III."""
    kw, kva, q_kvar = ratings
    return DERRecord(
        name=name,
        serial_number=serial,
        der_type="pv",
        manufacturer=rng.choice(["SunWorks", "Invertix", "GridTie"]),
        model="ST-" + str(int(kw)),
        firmware_version="2.4.1",
        nameplate=Ratings(
            active_power_kw=kw,
            apparent_power_kva=kva,
            reactive_injected_kvar=q_kvar,
            reactive_absorbed_kvar=q_kvar,
            v_nominal_v=240.0,
            v_min_v=211.2,
            v_max_v=264.0,
        ),
        normal_category="B",
        abnormal_category="III",
        supported_modes=("active_reactive", "volt_var", "constant_pf"),
        control_mode="active_reactive",
    )


def seed_registry(count: int = 120, dnp3_base_port: int = DNP3_BASE_PORT) -> int:
    """Create the demo DERs unless they exist; returns how many were created."""
    ensure_feeders()
    if DER.objects.filter(serial_number__startswith="DEMO-").exists():
        return 0
    for name, kind in ((AGGREGATOR, "aggregator"), ("north-microgrid", "microgrid")):
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
            None,
            "system",
            _record(i, bus, phase, rng, dnp3_base_port),
            groups=["north-microgrid"] if i % 10 == 3 else None,
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


def _live(der: DER) -> bool:
    """Seeded active and reporting: not parked in pending/approved, not suspended, not silent."""
    i = int(der.serial_number[5:])
    return i % 17 not in (5, 6) and i % 31 != 9 and i % 13 != 2


def _repoint(der: DER, **changes: Any) -> int:
    rec = record_from_der(der)
    if all(getattr(rec, k) == v for k, v in changes.items()):
        return 0
    groups = list(der.groups.values_list("name", flat=True))
    actions.do_update_der(None, "system", der.pk, replace(rec, **changes), groups=groups)
    return 1


def _dnp3_profile(k: int) -> dict[str, str]:
    """Every IEEE1815_2_EVERY-th demo DNP3 DER is a Level 2 device on the IEEE 1815.2 map (32-bit
    integer set points in W and var); the others serve the compact map with double set points."""
    if k % IEEE1815_2_EVERY == IEEE1815_2_EVERY - 1:
        return {"dnp3_point_map": "ieee1815_2", "dnp3_ao_variation": "g41v1"}
    return {"dnp3_point_map": "compact", "dnp3_ao_variation": "g41v4"}


def _sim_nameplate(der: DER) -> Ratings:
    p_kw, s_kva, q_kvar = SIM_RATINGS
    return replace(
        der.nameplate(),
        active_power_kw=p_kw,
        apparent_power_kva=s_kva,
        reactive_injected_kvar=q_kvar,
        reactive_absorbed_kvar=q_kvar,
    )


def connect_field(cert_dir: Path, dnp3_base_port: int = DNP3_BASE_PORT) -> dict[str, int]:
    """Point the demo's protocol DERs at `run_field_sim`'s devices: the k-th DNP3 DER at
    DNP3_HOST:base+k (address 10; the simulated inverter's ratings), the first SEP2_DEVICES live
    2030.5 DERs at the identities of the simulator's client certificates `sim-k`, the first
    SEP2_AGGREGATED live via-aggregator DERs at the aggregator's devices, and the aggregator
    group at the aggregator's certificate. Makes the demo certificates in `cert_dir` when
    missing (the server's too); idempotent."""
    certs.demo_set(cert_dir)
    demo = list(
        DER.objects.filter(serial_number__startswith="DEMO-")
        .exclude(status=Status.DECOMMISSIONED)
        .order_by("serial_number")
    )
    dnp3 = [d for d in demo if d.comm_path == "dnp3_direct"][:DNP3_DEVICES]
    changed = sum(
        _repoint(
            der,
            dnp3_host=DNP3_HOST,
            dnp3_port=dnp3_base_port + k,
            dnp3_outstation_address=DNP3_ADDRESS,
            dnp3_master_address=1,
            nameplate=_sim_nameplate(der),
            **_dnp3_profile(k),
        )
        for k, der in enumerate(dnp3)
    )
    direct = [d for d in demo if d.comm_path == "sep2_direct" and _live(d)][:SEP2_DEVICES]
    for der, client in zip(direct, sim_fleet.demo_clients(len(direct), cert_dir), strict=True):
        changed += _repoint(der, lfdi=client.lfdi, sfdi=client.sfdi)
    behind = [d for d in demo if d.comm_path == "via_aggregator" and _live(d)][:SEP2_AGGREGATED]
    # ckt5's rooftop PV (apps/der_registry/demo_ckt5.py), when seeded, follows the IEEE 123 devices.
    behind += list(
        DER.objects.filter(
            serial_number__startswith=CKT5_SERIAL, status=Status.ACTIVE, comm_path="via_aggregator"
        ).order_by("serial_number")
    )
    aggregator = sim_fleet.demo_aggregator(len(behind), cert_dir)
    for der, device in zip(behind, aggregator.devices, strict=True):
        changed += _repoint(der, lfdi=device.lfdi, sfdi=device.sfdi)
    actions.do_set_group_lfdi(None, "system", AGGREGATOR, aggregator.lfdi)
    return {"dnp3": len(dnp3), "sep2": len(direct), "aggregated": len(behind), "changed": changed}
