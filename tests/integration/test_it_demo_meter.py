"""The demo's stand-in substation meter (`make demo` only): it records what the demo feeder draws at
the hour's load level, so the cycle's collect has an operating point, and the DMS's load allocation,
given that reading, finds the level again."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.der_registry.demo import ensure_feeders
from apps.dms.demo_meter import load_level, play_head_readings
from apps.dms.engine.load_allocation import HeadMeasurement, allocate
from apps.dms.engine.network import Network
from apps.dms.models import Feeder
from apps.dms.models import HeadMeasurement as Reading

pytestmark = pytest.mark.django_db


def test_it_meters_the_demo_feeder_and_allocation_finds_the_hours_load_level() -> None:
    ensure_feeders()
    at = dt.datetime(2026, 12, 4, 7, 30, tzinfo=dt.UTC)  # morning: well below the evening peak
    assert play_head_readings(at) == 1
    (row,) = Reading.objects.all()
    assert (row.feeder.name, row.source, row.measured_at) == ("ieee123", "demo", at)
    assert 0.6 <= load_level(at) < 0.7

    version = Feeder.objects.get(name="ieee123").current_version()
    assert version is not None
    net = Network.from_dict(version.model)
    found = allocate(net, {}, HeadMeasurement(row.p_kw, row.q_kvar, row.v_pu))  # the demo DERs: none yet
    assert found.matched
    assert found.k_p == pytest.approx(load_level(at), rel=2e-3)
    assert found.k_q == pytest.approx(load_level(at), rel=5e-3)
