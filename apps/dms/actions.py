"""State changes of the DMS app (feeders). Each do_* owns its transaction and audit record."""

from __future__ import annotations

import hashlib

from django.db import transaction

from apps.dms.engine.dss_import import BusInfo
from apps.dms.models import Bus, Feeder, FeederVersion
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor


@transaction.atomic
def do_add_feeder_version(
    actor: Actor,
    source: str,
    name: str,
    buses: list[BusInfo],
    *,
    source_name: str,
    source_text: str = "",
    description: str = "",
) -> FeederVersion:
    feeder, created = Feeder.objects.get_or_create(name=name, defaults={"description": description})
    last = feeder.current_version()
    version = FeederVersion.objects.create(
        feeder=feeder,
        number=(last.number + 1) if last else 1,
        source_name=source_name,
        source_sha256=hashlib.sha256(source_text.encode()).hexdigest() if source_text else "",
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    Bus.objects.bulk_create(
        Bus(version=version, name=b.name, phases=list(b.phases), base_kv=b.base_kv, x=b.x, y=b.y)
        for b in buses
    )
    audit.record(
        actor,
        source,
        "feeder.import" if created else "feeder.reimport",
        feeder,
        after={"version": version.number, "buses": len(buses), "source": source_name},
    )
    return version
