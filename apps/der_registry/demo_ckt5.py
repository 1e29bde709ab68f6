"""The demo's utility-size feeder: EPRI ckt5 (1,379 customers on 120/240 V secondaries) beside IEEE 13
and 123, with rooftop PV on about one customer in ten. The PV is customers' equipment reached the
way a utility reaches most rooftop PV, through an aggregator over IEEE 2030.5: the demo aggregator,
which the plant simulates with these devices behind it after the IEEE 123 ones (`connect_field`
gives them its device identities), so the capability curve, a dispatch and the board work on ckt5
from what the simulated ckt5 reports. Deterministic and idempotent; made through do_* actions."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from dataclasses import replace

from apps.der_registry import actions
from apps.der_registry.demo import AGGREGATOR, CKT5_SERIAL, FIXTURES, inverter
from apps.der_registry.engine.ieee1547 import DERRecord
from apps.der_registry.models import DER
from apps.dms.actions import do_add_feeder_version
from apps.dms.engine.network import Load, Network
from apps.dms.models import Feeder

FEEDER = "ckt5"
DESCRIPTION = "EPRI ckt5: 1,379 customers on 120/240 V secondaries (EPRI test circuit)"
CUSTOMERS_PER_PV = 10
PV_UNITS = 137  # 1,379 customers / CUSTOMERS_PER_PV; the Procfile's --sep2-aggregated counts them
ROOFTOP_KW = (5.0, 7.6, 10.0, 11.4)
SEED = 5


def ensure_ckt5() -> Feeder:
    """The feeder from the shipped fixture (manage.py convert_feeder of ckt5's Master_ckt5.dss),
    unless a feeder of that name with a network model exists."""
    feeder = Feeder.objects.filter(name=FEEDER).first()
    version = feeder.current_version() if feeder is not None else None
    if version is None or not version.model:
        text = gzip.decompress((FIXTURES / f"{FEEDER}.json.gz").read_bytes()).decode()
        net = Network.from_dict(json.loads(text))
        do_add_feeder_version(
            None, "system", net, source_name=f"{FEEDER}.json", source_text=text, description=DESCRIPTION
        )
    return Feeder.objects.get(name=FEEDER)


def rooftop_sites(loads: Sequence[Load], count: int, seed: int = SEED) -> list[Load]:
    """`count` customers, a seeded pick in name order (the same on every start), one PV each; wye
    loads only (a DER needs a ground reference)."""
    customers = sorted((x for x in loads if x.conn == "wye"), key=lambda x: x.name)
    return sorted(random.Random(seed).sample(customers, min(count, len(customers))), key=lambda x: x.name)


def pv_record(i: int, load: Load, rng: random.Random) -> DERRecord:
    kw = rng.choice(ROOFTOP_KW)
    kva = round(kw * 1.1, 2)
    q_kvar = round(kva * 0.44, 2)  # IEEE 1547-2018 Category B: 44 % of the kVA both ways
    return replace(
        inverter(f"ckt5-pv-{i:03d}", f"{CKT5_SERIAL}{i:04d}", (kw, kva, q_kvar), rng),
        feeder=FEEDER,
        bus=load.bus,
        phases=tuple(load.phases),
        ownership="customer",
        comm_path="via_aggregator",
        aggregator=AGGREGATOR,
        expected_update_s=60,
    )


def seed_ckt5(count: int = PV_UNITS) -> int:
    """ckt5 and its rooftop PV, enrolled and made active, unless they exist; how many were made.
    The aggregator group comes from `seed_registry`, which runs first."""
    feeder = ensure_ckt5()
    if DER.objects.filter(serial_number__startswith=CKT5_SERIAL).exists():
        return 0
    version = feeder.current_version()
    assert version is not None and version.model
    net = Network.from_dict(version.model)
    rng = random.Random(SEED)
    sites = rooftop_sites(net.loads, count)
    for i, load in enumerate(sites):
        der = actions.do_enroll_der(None, "system", pv_record(i, load, rng))
        for status in ("approved", "active"):
            actions.do_transition_der(None, "system", der.pk, status, "demo")
    return len(sites)
