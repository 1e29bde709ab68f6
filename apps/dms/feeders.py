"""Loading a stored feeder's network model (the one place that turns a FeederVersion into a Network)."""

from __future__ import annotations

from apps.dms.actions import FeederError
from apps.dms.engine.network import Network
from apps.dms.models import Feeder, FeederVersion


def current_version(name: str) -> FeederVersion:
    feeder = Feeder.objects.filter(name=name).first()
    if feeder is None:
        known = ", ".join(Feeder.objects.values_list("name", flat=True)) or "none yet"
        raise FeederError(f"There is no feeder named {name!r} (known: {known}).")
    version = feeder.current_version()
    if version is None:
        raise FeederError(f"Feeder {name!r} has no imported model yet.")
    return version


def network_of(version: FeederVersion) -> Network:
    if not version.model:
        raise FeederError(
            f"Version {version.number} of feeder {version.feeder.name!r} holds only its bus list; "
            "import the feeder again from its OpenDSS file to get the full network model."
        )
    return Network.from_dict(version.model)
