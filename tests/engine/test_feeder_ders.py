"""DERs in the feeder file: PVSystem, Generator and Storage elements read with their class, rating and
solved output (checked against OpenDSS itself), the registry record an admin enrols from one, and the
network without the elements the registry models instead."""

from __future__ import annotations

import pytest

from apps.der_registry.engine import ieee1547
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.feeder_ders import der_names, record_from_element, without_elements
from apps.dms.engine.network import Generator, Network
from tests.conftest import FILE_DERS_DSS


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Network:
    master = tmp_path_factory.mktemp("feeder") / "master.dss"
    master.write_text(FILE_DERS_DSS)
    return read_network(master, "t")


@on_dss_thread  # OpenDSS is not thread-safe: called on the main thread it segfaulted an xdist worker
def opendss_output(element: str) -> tuple[float, float]:
    """Injected P and Q of `element` as OpenDSS reports them, solving the circuit itself."""
    import opendssdirect as dss

    for line in FILE_DERS_DSS.splitlines():
        dss.Text.Command(line)
    dss.Text.Command("solve")
    dss.Circuit.SetActiveElement(element)
    powers = dss.CktElement.Powers()
    return -sum(powers[0::2]), -sum(powers[1::2])


def by_element(net: Network) -> dict[str, Generator]:
    return {g.element: g for g in net.generators}


def test_it_reads_the_three_classes_with_their_rated_kw(net: Network) -> None:
    """Rated, not present: the PV at 80 % irradiance makes 40 kW, the battery discharges 15 kW."""
    found = {k: (g.kind, g.bus, g.phases, g.kva, g.p_rated_kw) for k, g in by_element(net).items()}
    assert found == {
        "pvsystem.pv1": ("pvsystem", "b1", (1,), 60.0, 50.0),
        "generator.g1": ("generator", "b1", (1, 2, 3), 250.0, 200.0),
        "storage.bess": ("storage", "b1", (2,), 40.0, 30.0),
    }


@pytest.mark.parametrize(
    ("key", "element"),
    [("pvsystem.pv1", "PVSystem.pv1"), ("generator.g1", "Generator.g1"), ("storage.bess", "Storage.bess")],
)
def test_it_reads_each_output_as_opendss_solves_it(net: Network, key: str, element: str) -> None:
    p_kw, q_kvar = opendss_output(element)
    g = by_element(net)[key]
    assert (g.p_kw, g.q_kvar) == (pytest.approx(p_kw, abs=1e-6), pytest.approx(q_kvar, abs=1e-6))


def test_it_builds_a_category_b_record_from_a_pv_element(net: Network) -> None:
    rec = record_from_element("t", by_element(net)["pvsystem.pv1"], "pvsystem-pv1")
    assert (rec.der_type, rec.feeder, rec.bus, rec.phases, rec.normal_category) == (
        "pv",
        "t",
        "b1",
        (1,),
        "B",
    )
    np_ = rec.nameplate
    assert (np_.apparent_power_kva, np_.active_power_kw) == (60.0, 50.0)
    assert np_.reactive_injected_kvar == np_.reactive_absorbed_kvar == pytest.approx(0.44 * 60)
    assert (np_.v_nominal_v, np_.v_min_v, np_.v_max_v) == (7200.0, 6336.0, 7920.0)
    assert ieee1547.validate_ratings(np_) == [] and ieee1547.reactive_capability_warnings(np_, "B") == []


def test_it_types_storage_and_generators_and_leaves_the_serial_and_path_to_the_admin(net: Network) -> None:
    bess = record_from_element("t", by_element(net)["storage.bess"], "storage-bess")
    gen = record_from_element("t", by_element(net)["generator.g1"], "generator-g1")
    assert (bess.der_type, bess.nameplate.active_power_charge_kw) == ("storage", 30.0)
    assert (gen.der_type, gen.nameplate.active_power_charge_kw, gen.phases) == ("other", None, (1, 2, 3))
    assert (gen.serial_number, gen.ownership, gen.comm_path) == ("", "", "")


def test_it_leaves_an_unknown_rating_empty_and_clips_an_array_larger_than_its_inverter() -> None:
    old = Generator("pv9", "b1", (1,), 5.0, 0.0, 10.0, 7.2, kind="pvsystem")  # imported before ratings
    assert record_from_element("t", old, "x").nameplate.active_power_kw is None
    big_array = Generator("pv8", "b1", (1,), 5.0, 0.0, 10.0, 7.2, kind="pvsystem", p_rated_kw=12.0)
    assert record_from_element("t", big_array, "x").nameplate.active_power_kw == 10.0


def test_it_names_a_der_after_its_element_then_its_feeder() -> None:
    names = der_names("north-7", Generator("PV 1", "b1", (1,), 0.0, 0.0, 1.0, kind="pvsystem"))
    assert names[:3] == ["pvsystem-pv-1", "north-7-pvsystem-pv-1", "north-7-pvsystem-pv-1-2"]
    assert all(ieee1547._NAME.match(n) for n in names)


def test_it_drops_only_the_named_elements(net: Network) -> None:
    kept = without_elements(net, ["pvsystem.pv1", "generator.nosuch"])
    assert [g.element for g in kept.generators] == ["generator.g1", "storage.bess"]
    assert without_elements(net, []) is net and kept.loads == net.loads
