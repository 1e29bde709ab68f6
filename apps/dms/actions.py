"""State changes of the DMS app (feeders). Each do_* owns its transaction and audit record."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.db import transaction

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from apps.dms.models import Bus, Feeder, FeederVersion
from crest_web.accounts import audit
from crest_web.accounts.audit import Actor
from crest_web.events import publish_on_commit


class FeederError(ValueError):
    """A feeder request the DMS refuses; the message says why in plain words."""


@transaction.atomic
def do_add_feeder_version(
    actor: Actor,
    source: str,
    network: Network,
    *,
    source_name: str,
    source_text: str = "",
    description: str = "",
) -> FeederVersion:
    """Store `network` as the next version of the feeder of its name (created on first import)."""
    name = network.name
    feeder, created = Feeder.objects.get_or_create(name=name, defaults={"description": description})
    last = feeder.current_version()
    distances = network.bus_distances_km()
    version = FeederVersion.objects.create(
        feeder=feeder,
        number=(last.number + 1) if last else 1,
        source_name=source_name,
        source_sha256=hashlib.sha256(source_text.encode()).hexdigest() if source_text else "",
        created_by=actor if actor is not None and actor.is_authenticated else None,
        model=network.to_dict(),
        summary=_summary(network),
    )
    Bus.objects.bulk_create(
        Bus(
            version=version,
            name=b.name,
            phases=list(b.phases),
            base_kv=b.base_kv_ln,
            x=b.x,
            y=b.y,
            distance_km=distances.get(b.name),
        )
        for b in network.buses
    )
    audit.record(
        actor,
        source,
        "feeder.import" if created else "feeder.reimport",
        feeder,
        after={"version": version.number, "buses": len(network.buses), "source": source_name},
    )
    publish_on_commit("registry", "feeder.imported", {"name": name, "version": version.number})
    return version


def _summary(net: Network) -> dict[str, int]:
    return {
        "buses": len(net.buses),
        "node_phases": len(net.node_keys()),
        "lines": len(net.lines),
        "transformers": len(net.transformers),
        "loads": len(net.loads),
        "capacitors": len(net.capacitors),
        "generators": len(net.generators),
    }


def do_import_feeder(
    actor: Actor, source: str, master: Path, name: str, description: str = ""
) -> FeederVersion:
    """Read an OpenDSS feeder (compiled and solved) and store it as a new version of `name`.

    Nothing is stored when the model cannot be read; FeederError says why."""
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name != name.lower():
        raise FeederError(f"The feeder name {name!r} must be lower-case letters, digits, '-' or '_'.")
    try:
        network = read_network(master, name)
    except FeederImportError as exc:
        raise FeederError(str(exc)) from exc
    text = master.read_text(errors="replace") if master.is_file() else ""
    return do_add_feeder_version(
        actor, source, network, source_name=master.name, source_text=text, description=description
    )
