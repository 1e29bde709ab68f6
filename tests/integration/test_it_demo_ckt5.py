"""The demo offers EPRI ckt5 beside IEEE 13 and 123, with rooftop PV on about one customer in ten
(issue #15 item 5): seeded once, every unit reached through the aggregator the Procfile's plant
simulates, the plant solving ckt5 with them, and a planner's capability point on it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from apps.der_registry.demo import AGGREGATOR, connect_field, seed_registry
from apps.der_registry.demo_ckt5 import PV_UNITS, ROOFTOP_KW, seed_ckt5
from apps.der_registry.engine.sep2.sim_fleet import aggregated_devices
from apps.der_registry.models import DER
from apps.dms.feeders import network_of
from apps.dms.models import Feeder
from apps.plant.engine.feeder import Conditions, FeederPlant
from apps.plant.engine.layout import Layout
from crest_web.launcher import PLANT_LAYOUT
from tests.conftest import client_for
from tests.integration.test_it_ems_demo import procfile_line, procfile_rtus

pytestmark = pytest.mark.django_db
CUSTOMERS = 1379


@pytest.fixture
def demo(tmp_path: Path) -> dict[str, Any]:
    seed_registry()
    made = seed_ckt5()
    plan = connect_field(tmp_path / "sep2")
    layout = tmp_path / "layout.json"
    call_command("export_plant_layout", "--out", str(layout), *PLANT_LAYOUT, stdout=io.StringIO())
    return {"made": made, "plan": plan, "layout": json.loads(layout.read_text())}


def test_ckt5_comes_with_rooftop_pv_on_one_customer_in_ten_each_served_by_the_plant(
    demo: dict[str, Any], operator: User, tmp_path: Path
) -> None:
    assert demo["made"] == PV_UNITS == CUSTOMERS // 10 and seed_ckt5() == 0  # once, then left alone
    assert {"ieee13", "ieee123", "ckt5"} <= set(Feeder.objects.values_list("name", flat=True))
    net = network_of(Feeder.objects.get(name="ckt5").current_version())
    assert len(net.loads) == CUSTOMERS
    sites = {(x.bus, tuple(x.phases)) for x in net.loads}
    pv = list(DER.objects.filter(feeder__name="ckt5"))
    assert len(pv) == PV_UNITS and all(d.status == "active" for d in pv)
    assert len({(d.bus, tuple(d.phases)) for d in pv}) == PV_UNITS  # one per customer, at its service
    assert all((d.bus, tuple(d.phases)) in sites for d in pv)
    assert all(d.np_active_power_kw in ROOFTOP_KW for d in pv)
    assert all(
        d.comm_path == "via_aggregator" and getattr(d.aggregator(), "name", "") == AGGREGATOR for d in pv
    )
    # Every unit answers through the aggregator the Procfile's plant runs: the plant manages as many
    # aggregated devices as connect_field points DERs at, ckt5's among them, and its layout has them.
    total = int(procfile_line("plant")["--sep2-aggregated"])
    assert demo["plan"]["aggregated"] == total
    served = {d.lfdi for d in aggregated_devices(total)}
    pv = DER.objects.filter(feeder__name="ckt5")
    assert {d.lfdi for d in pv} <= served and len({d.lfdi for d in pv}) == PV_UNITS
    (ckt5,) = [f for f in demo["layout"]["feeders"] if f["model"]["name"] == "ckt5"]
    assert ckt5["tie_bus"] is None  # a stiff source: only ieee123 hangs from the EMS's case
    in_layout = {d["lfdi"] for d in demo["layout"]["ders"] if d["feeder"] == "ckt5"}
    assert in_layout == {d.lfdi for d in pv}
    # An operator's dispatch form starts at the substation voltage ckt5's model holds (at 1.0 pu its
    # far secondaries are below 0.95 pu before anything is dispatched).
    form = client_for(operator).get("/feeders/ckt5/dispatch/").content.decode()
    assert 'name="v_sub_pu" value="1.05"' in form
    # The gateway reads ckt5's RTU too, where the plant serves it; and RTU ports not pinned go by the
    # order feeders were imported (ckt5 sorts before ieee123 by name: by name, ieee123's moved).
    rtus = {f["model"]["name"]: f["rtu"]["port"] for f in demo["layout"]["feeders"]}
    assert {name: where[1] for name, where in procfile_rtus().items()} == {
        "ieee123": rtus["ieee123"],
        "ckt5": rtus["ckt5"],
    }
    out = io.StringIO()
    call_command("export_plant_layout", "--out", str(tmp_path / "plain.json"), stdout=out)
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert [f["model"]["name"] for f in plain["feeders"]] == ["ieee123", "ieee13", "ckt5"]
    assert [f["rtu"]["port"] for f in plain["feeders"]] == [20700, 20701, 20702]


def test_the_plant_solves_ckt5_with_its_pv_and_a_planner_gets_a_capability_point(
    demo: dict[str, Any],
) -> None:
    """Power balance at the feeder head: what it draws is the customers' demand less the PV, plus
    losses that are positive and a few percent (OpenDSS solves it; the balance is the check)."""
    layout = Layout.from_doc(demo["layout"])
    spec = layout.feeders["ckt5"]
    plant = FeederPlant(spec.net, [d.der for d in layout.ders if d.feeder == "ckt5"], spec.commercial_share)
    reading = plant.step(Conditions(hour=12.0, irradiance=0.9))
    assert reading.converged and len(reading.ders) == PV_UNITS
    pv_kw = sum(d.p_kw for d in reading.ders.values())
    assert pv_kw == pytest.approx(0.9 * sum(d.der.array_kw for d in layout.ders if d.feeder == "ckt5"))
    losses_kw = reading.p_kw - (reading.demand_p_kw - pv_kw)
    assert 0.0 < losses_kw < 0.05 * reading.demand_p_kw
    v_pu = [d.v_pu for d in reading.ders.values()]
    assert 0.95 <= min(v_pu) <= max(v_pu) <= 1.06
    # A planner's capability point on the demo's ckt5 with this population.
    out = io.StringIO()
    call_command("capability", "ckt5", "--headroom", "0:0:1", "--json", stdout=out)
    curve = json.loads(out.getvalue())
    (point,) = curve["points"]
    assert point["feasible"] and point["q_min_kvar"] < curve["q_base_kvar"] < point["q_max_kvar"]
