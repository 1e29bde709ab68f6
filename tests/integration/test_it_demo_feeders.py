"""Seeding the demo brings an older demo database's feeders up to a dispatchable network model."""

from __future__ import annotations

from apps.der_registry.demo import FEEDERS, ensure_feeders
from apps.dms.models import Feeder, FeederVersion
from crest_web.accounts.models import AuditRecord


def test_it_adds_a_model_version_where_the_current_one_has_none(db: None) -> None:
    old = Feeder.objects.create(name="ieee13", description="from an older demo")
    FeederVersion.objects.create(feeder=old, number=1, source_name="IEEE13Nodeckt.dss", model={})
    ensure_feeders()
    for name in FEEDERS:
        version = Feeder.objects.get(name=name).current_version()
        assert version is not None and version.model["name"] == name
        assert version.buses.count() == len(version.model["buses"])
    assert list(old.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    assert old.versions.get(number=1).model == {}  # kept for replay
    assert AuditRecord.objects.get(action="feeder.reimport").object_repr == "ieee13"
    assert AuditRecord.objects.filter(action="feeder.import").count() == 1  # ieee123, new
    versions, records = FeederVersion.objects.count(), AuditRecord.objects.count()
    ensure_feeders()  # seeding again changes nothing
    assert (FeederVersion.objects.count(), AuditRecord.objects.count()) == (versions, records)
