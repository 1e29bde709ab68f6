"""DERs in the feeder file: the PVSystem, Generator and Storage elements an OpenDSS feeder brings
(`Network.generators`), as the registry record an admin enrols from one, and the network without the
fixed injections of the elements the registry models in their place.

An element is named by its key, "<class>.<name>" (`Generator.element`); a DER enrolled from it keeps
that key. The record carries what the file knows — type, nameplate, nominal voltage, location — and
leaves to the admin what it cannot: serial number, owner and communication path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection

from apps.der_registry.engine.ieee1547 import REACTIVE_FRACTION, DERRecord, Ratings
from apps.dms.engine.network import Generator, Network

DER_TYPE = {"pvsystem": "pv", "storage": "storage", "generator": "other"}  # OpenDSS class → registry type
CLASS_LABEL = {"pvsystem": "PVSystem", "storage": "Storage", "generator": "Generator"}
CATEGORY = "B"  # IEEE 1547-2018 normal performance category assumed for the reactive ratings
V_RANGE_PU = (0.88, 1.10)  # IEEE 1547-2018 continuous operation, of the nominal voltage
RATINGS_NOTE = (
    f"reactive power limits of IEEE 1547-2018 Category {CATEGORY}: {REACTIVE_FRACTION[CATEGORY][0]:.0%} of "
    f"the kVA injected and {REACTIVE_FRACTION[CATEGORY][1]:.0%} absorbed; AC voltage limits "
    f"{V_RANGE_PU[0]:.2f}–{V_RANGE_PU[1]:.2f} pu of the element's kV"
)
_NOT_IN_NAMES = re.compile(r"[^a-z0-9_.\-]+")


def record_from_element(feeder: str, element: Generator, name: str) -> DERRecord:
    """The registry record of `element` of `feeder`, enrolled as `name`: nameplate from its kVA and
    rated kW (at most the kVA; unknown when the import did not read one), reactive ratings at
    Category B (44 % of the kVA both ways, IEEE 1547-2018 Table 7), voltages from its kV; no serial
    number, owner or comm path."""
    q_inj, q_abs = (round(f * element.kva, 3) for f in REACTIVE_FRACTION[CATEGORY])
    v_nom = round(element.kv * 1000.0, 3)
    # At unity power factor the inverter passes no more than its kVA (a PV array's Pmpp may exceed it)
    rated = min(element.p_rated_kw, element.kva) if element.p_rated_kw > 0 else None
    nameplate = Ratings(
        active_power_kw=rated,
        apparent_power_kva=element.kva,
        reactive_injected_kvar=q_inj,
        reactive_absorbed_kvar=q_abs,
        active_power_charge_kw=rated if element.kind == "storage" else None,
        v_nominal_v=v_nom,
        v_min_v=round(V_RANGE_PU[0] * v_nom, 3),
        v_max_v=round(V_RANGE_PU[1] * v_nom, 3),
    )
    return DERRecord(
        name=name,
        serial_number="",
        nameplate=nameplate,
        normal_category=CATEGORY,
        feeder=feeder,
        bus=element.bus,
        phases=tuple(sorted(element.phases)),
        ownership="",
        comm_path="",
        der_type=DER_TYPE.get(element.kind, "other"),
    )


def der_names(feeder: str, element: Generator) -> list[str]:
    """Registry names for a DER enrolled from `element`, best first: "pvsystem-pv1", then (names are
    unique across feeders) with the feeder's name in front, then numbered."""
    base = _NOT_IN_NAMES.sub("-", f"{element.kind}-{element.name}".lower()).strip("-._")
    names = [base, f"{feeder}-{base}"] + [f"{feeder}-{base}-{i}" for i in range(2, 100)]
    return [n[-64:].lstrip("-._") for n in names]


def without_elements(net: Network, keys: Collection[str]) -> Network:
    """`net` without the fixed injection of the file elements named by `keys` ("<class>.<name>")."""
    if not keys:
        return net
    return dataclasses.replace(net, generators=tuple(g for g in net.generators if g.element not in keys))
