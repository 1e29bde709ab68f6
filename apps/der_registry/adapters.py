"""Translation between ORM rows and the engine's plain records. The only place that knows both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from apps.der_registry.engine import ieee1547
from apps.der_registry.engine.ieee1547 import DERRecord, Ratings, RegistryContext
from apps.der_registry.models import DER, DERGroup
from apps.dms.models import Bus, Feeder

RATINGS = list(ieee1547.RATING_FIELDS)
_PLAIN = [
    f.name
    for f in fields(DERRecord)
    if f.name not in ("nameplate", "configuration", "feeder", "aggregator", "phases", "supported_modes")
]


def record_from_der(der: DER) -> DERRecord:
    aggregator = der.aggregator()
    return DERRecord(
        nameplate=der.nameplate(),
        configuration=der.configuration(),
        feeder=der.feeder.name,
        aggregator=aggregator.name if aggregator else "",
        phases=tuple(der.phases),
        supported_modes=tuple(der.supported_modes),
        **{name: getattr(der, name) if getattr(der, name) is not None else _default(name) for name in _PLAIN},
    )


def _default(name: str) -> Any:
    return next(f.default for f in fields(DERRecord) if f.name == name)


def der_values(rec: DERRecord, feeder: Feeder) -> dict[str, Any]:
    """Model field values for a record (the feeder already looked up)."""
    values: dict[str, Any] = {name: getattr(rec, name) for name in _PLAIN}
    values["lfdi"] = rec.lfdi.upper()
    values.update({f"np_{k}": getattr(rec.nameplate, k) for k in RATINGS})
    values.update({f"cfg_{k}": getattr(rec.configuration, k) for k in RATINGS})
    values.update(
        feeder=feeder, bus=rec.bus.lower(), phases=list(rec.phases), supported_modes=list(rec.supported_modes)
    )
    return values


def record_from_values(values: dict[str, Any]) -> DERRecord:
    """A record from form-like values (np_*/cfg_* rating keys); missing keys take defaults."""
    kwargs = {k: values[k] for k in _PLAIN if k in values and values[k] is not None}
    return DERRecord(
        nameplate=Ratings(**{k: values.get(f"np_{k}") for k in RATINGS}),
        configuration=Ratings(**{k: values.get(f"cfg_{k}") for k in RATINGS}),
        feeder=values.get("feeder") or "",
        aggregator=values.get("aggregator") or "",
        phases=tuple(sorted(int(p) for p in values.get("phases") or ())),
        supported_modes=tuple(values.get("supported_modes") or ()),
        **kwargs,
    )


def build_context(records: Iterable[DERRecord], exclude_ids: Iterable[int] = ()) -> RegistryContext:
    """What validation of these records needs from the database, and nothing more."""
    recs = list(records)
    others = DER.objects.exclude(pk__in=list(exclude_ids))
    feeder_names = {r.feeder for r in recs if r.feeder}
    feeders = {f.name: f for f in Feeder.objects.filter(name__in=feeder_names)}
    bus_phases: dict[tuple[str, str], frozenset[int]] = {}
    for feeder in feeders.values():
        # The version's id only: its stored model (1.5 MB on a utility feeder) is not needed here.
        version_id = feeder.versions.order_by("-number").values_list("pk", flat=True).first()
        if version_id is not None:
            for name, phases in Bus.objects.filter(version_id=version_id).values_list("name", "phases"):
                bus_phases[(feeder.name, name)] = frozenset(phases)
    dnp3 = [r for r in recs if r.comm_path == "dnp3_direct" and r.dnp3_host]
    taken_dnp3: frozenset[tuple[str, int, int]] = frozenset()
    if dnp3:
        rows = (
            others.filter(dnp3_host__in={r.dnp3_host for r in dnp3}, comm_path="dnp3_direct")
            .exclude(status="decommissioned")
            .values_list("dnp3_host", "dnp3_port", "dnp3_outstation_address")
        )
        taken_dnp3 = frozenset((host, port or 0, address or 0) for host, port, address in rows)
    return RegistryContext(
        bus_phases=bus_phases,
        known_feeders=frozenset(feeders),
        taken_serials=frozenset(
            others.filter(serial_number__in=[r.serial_number for r in recs]).values_list(
                "serial_number", flat=True
            )
        ),
        taken_names=frozenset(others.filter(name__in=[r.name for r in recs]).values_list("name", flat=True)),
        taken_lfdis=frozenset(
            others.filter(lfdi__in=[r.lfdi.upper() for r in recs if r.lfdi])
            .exclude(status="decommissioned")
            .values_list("lfdi", flat=True)
        ),
        taken_dnp3=taken_dnp3,
        known_aggregators=frozenset(
            DERGroup.objects.filter(
                kind=DERGroup.Kind.AGGREGATOR, name__in={r.aggregator for r in recs}
            ).values_list("name", flat=True)
        ),
    )
