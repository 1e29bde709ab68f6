"""DERs in the feeder file, for the feeder page: each PVSystem, Generator and Storage element of a
stored version with the registry DER enrolled from it, and what enrolling one starts from (the
registry's own form, filled in from the element by `apps/dms/engine/feeder_ders.py`). What the DMS
solves once such a DER is active is `apps/dms/feeders.py::dispatch_network`."""

from __future__ import annotations

from dataclasses import dataclass

from apps.der_registry.engine.ieee1547 import DERRecord
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.models import DER
from apps.dms.actions import FeederError
from apps.dms.engine.feeder_ders import CLASS_LABEL, der_names, record_from_element
from apps.dms.engine.network import Generator, Network
from apps.dms.feeders import network_of
from apps.dms.models import Feeder, FeederVersion


@dataclass(frozen=True)
class FileDer:
    """One element of the file and the live (not decommissioned) DER enrolled from it, if any."""

    element: Generator
    der: DER | None

    @property
    def label(self) -> str:
        return CLASS_LABEL.get(self.element.kind, self.element.kind)

    @property
    def key(self) -> str:
        return self.element.element


@dataclass(frozen=True)
class Enrolment:
    """What enrolling an element starts from: where it is and the record built from it."""

    version: FeederVersion
    row: FileDer
    record: DERRecord


def _live(feeder: Feeder) -> dict[str, DER]:
    ders = DER.objects.filter(feeder=feeder).exclude(feeder_element="").exclude(status=Status.DECOMMISSIONED)
    return {d.feeder_element: d for d in ders}


def file_ders(feeder: Feeder, net: Network) -> list[FileDer]:
    """The file's DERs of `net` (a version of `feeder`), each with the DER enrolled from it."""
    enrolled = _live(feeder)
    return [FileDer(g, enrolled.get(g.element)) for g in net.generators]


def enrolment_of(feeder: Feeder, key: str) -> Enrolment:
    """The element `key` ("<class>.<name>") of the feeder's current version, ready to enrol.
    FeederError, in plain words, when there is no such element or it is already enrolled."""
    version = feeder.current_version()
    if version is None:
        raise FeederError(f"Feeder {feeder.name} has no imported model yet.")
    net = network_of(version)
    element = next((g for g in net.generators if g.element == key.lower()), None)
    if element is None:
        have = ", ".join(g.element for g in net.generators) or "none"
        raise FeederError(
            f"Version {version.number} of feeder {feeder.name} has no PVSystem, Generator or Storage "
            f"element {key!r} (it has: {have})."
        )
    row = FileDer(element, _live(feeder).get(element.element))
    if row.der is not None:
        raise FeederError(
            f"{row.label} {element.name} is already enrolled as {row.der.name} ({row.der.status}); "
            "an element is enrolled once."
        )
    return Enrolment(version, row, record_from_element(feeder.name, element, _free_name(feeder, element)))


def _free_name(feeder: Feeder, element: Generator) -> str:
    names = der_names(feeder.name, element)
    taken = set(DER.objects.filter(name__in=names).values_list("name", flat=True))
    return next((n for n in names if n not in taken), names[0])  # all taken: the form says so
