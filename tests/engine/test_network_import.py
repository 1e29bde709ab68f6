"""Reading OpenDSS feeders into the project's Network: the IEEE feeders, topology, JSON, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from tests.conftest import FEEDERS

IEEE13 = FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"
IEEE123 = FEEDERS / "123Bus" / "IEEE123Master.dss"

SOURCE = "clear\nnew circuit.t basekv=12.47 bus1=src pu=1.0\n"
LINE = "phases=3 r1=0.1 x1=0.3 r0=0.3 x0=0.9 length=1 units=km"
TAIL = "set voltagebases=[12.47]\ncalcv\n"


@pytest.fixture(scope="module")
def ieee13() -> Network:
    return read_network(IEEE13, "ieee13")


@pytest.fixture(scope="module")
def ieee123() -> Network:
    return read_network(IEEE123, "ieee123")


def write(tmp_path: Path, body: str) -> Path:
    master = tmp_path / "master.dss"
    master.write_text(SOURCE + body + TAIL)
    return master


def test_it_reads_every_element_of_ieee13(ieee13: Network) -> None:
    counts = [len(x) for x in (ieee13.buses, ieee13.lines, ieee13.transformers, ieee13.loads)]
    assert counts == [16, 12, 5, 15]
    assert [c.name for c in ieee13.capacitors] == ["cap1", "cap2"]
    assert (ieee13.source_bus, ieee13.source_kv_ll, ieee13.source_pu) == ("sourcebus", 115.0, 1.0001)
    assert ieee13.bus["634"].base_kv_ln == pytest.approx(0.48 / 3**0.5)


def test_it_keeps_the_regulator_taps_the_control_loop_settled_on(ieee13: Network) -> None:
    regs = {t.name: t for t in ieee13.transformers if t.is_regulator}
    assert sorted(regs) == ["reg1", "reg2", "reg3"]
    for reg in regs.values():
        steps = (reg.tap[0] - 1) / 0.00625
        assert reg.tap[0] > 1.0 and steps == pytest.approx(round(steps))


def test_it_reads_line_impedance_in_ohms_over_the_lines_phases(ieee13: Network) -> None:
    line = next(x for x in ieee13.lines if x.name == "684652")
    assert line.phases == (1,) and line.length_km == pytest.approx(0.24384)
    # mtx607: 1.3425 + j0.5124 ohm/mile over 800 ft
    assert line.z_ohm[0][0] == pytest.approx(complex(1.3425, 0.5124) * 800 / 5280)


def test_the_regulator_bank_nearest_the_source_is_the_feeder_head(ieee13: Network, ieee123: Network) -> None:
    assert sorted(t.name for t in ieee13.transformers if t.is_feeder_head) == ["reg1", "reg2", "reg3"]
    assert [t.name for t in ieee123.transformers if t.is_feeder_head] == ["reg1a"]


def test_the_tree_is_ordered_from_the_source(ieee123: Network) -> None:
    topo = ieee123.topology()
    position = {bus: i for i, bus in enumerate(topo.order)}
    assert topo.order[0] == "150" and len(topo.order) == len(ieee123.buses)
    assert all(position[topo.parent[b]] < position[b] for b in topo.order[1:])
    assert sorted(topo.children["25"]) == ["25r", "28"]


def test_a_single_phase_regulator_bank_feeds_one_bus(ieee13: Network) -> None:
    assert sorted(ieee13.topology().feeders["rg60"]) == [
        "transformer.reg1",
        "transformer.reg2",
        "transformer.reg3",
    ]


def test_bus_distances_grow_along_the_feeder(ieee13: Network) -> None:
    km = ieee13.bus_distances_km()
    assert km["sourcebus"] == km["rg60"] == 0.0
    assert 0 < km["632"] < km["671"] < km["680"]
    assert km["680"] == pytest.approx((2000 + 667 + 1333 + 1000) * 0.0003048)


def test_it_round_trips_through_json_exactly(ieee123: Network) -> None:
    assert Network.from_dict(json.loads(json.dumps(ieee123.to_dict()))) == ieee123


def test_an_open_switch_drops_what_it_deenergizes(tmp_path: Path) -> None:
    master = write(
        tmp_path,
        f"new line.a bus1=src bus2=b1 {LINE}\nnew line.sw bus1=b1 bus2=b2 {LINE}\n"
        f"new line.c bus1=b2 bus2=b3 {LINE}\nnew load.near bus1=b1 kw=10 kv=12.47\n"
        "new load.far bus1=b3 kw=10 kv=12.47\nopen line.sw 1\n",
    )
    net = read_network(master, "t")
    assert [b.name for b in net.buses] == ["src", "b1"]
    assert [x.name for x in net.lines] == ["a"] and [x.name for x in net.loads] == ["near"]


def test_a_meshed_feeder_is_refused_naming_the_element_that_closes_the_loop(tmp_path: Path) -> None:
    master = write(
        tmp_path,
        f"new line.a bus1=src bus2=b1 {LINE}\nnew line.b bus1=b1 bus2=b2 {LINE}\n"
        f"new line.tie bus1=b2 bus2=src {LINE}\nnew load.l bus1=b2 kw=10 kv=12.47\n",
    )
    with pytest.raises(FeederImportError, match=r"Line\.\w+ closes a loop between buses"):
        read_network(master, "t")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FeederImportError, match=r"No OpenDSS file at .*nowhere\.dss"):
        read_network(tmp_path / "nowhere.dss", "t")


def test_a_syntax_error_is_refused_with_opendss_words(tmp_path: Path) -> None:
    master = write(tmp_path, "new lyne.a bus1=src bus2=b1\n")
    with pytest.raises(FeederImportError, match=r'could not compile or solve master.dss: .*"lyne" not found'):
        read_network(master, "t")


def test_an_unknown_linecode_is_refused_naming_the_line(tmp_path: Path) -> None:
    master = write(tmp_path, "new line.a bus1=src bus2=b1 linecode=nosuch length=1\n")
    with pytest.raises(FeederImportError, match=r'Line\.a\.LineCode: LineCode object "nosuch" not found'):
        read_network(master, "t")


def test_a_current_source_is_refused_naming_it(tmp_path: Path) -> None:
    master = write(tmp_path, f"new line.a bus1=src bus2=b1 {LINE}\nnew isource.inj bus1=b1 amps=5\n")
    with pytest.raises(FeederImportError, match=r"Isource\.inj cannot be represented in the feeder model"):
        read_network(master, "t")


def test_a_three_phase_three_winding_transformer_is_refused_naming_it(tmp_path: Path) -> None:
    """A center tap is modelled (test_center_tap.py); a three-phase three-winding unit is not."""
    body = (
        f"new line.a bus1=src bus2=b1 {LINE}\n"
        "new transformer.t3 windings=3 buses=[b1 b2 b3] kvs=[12.47 0.48 0.48] kvas=[100 100 100]\n"
    )
    refusal = (
        r"Transformer\.t3 has three windings but is not a center-tapped single-phase transformer \(3 phases\)"
    )
    with pytest.raises(FeederImportError, match=refusal):
        read_network(write(tmp_path, body), "t")


def test_a_control_loop_that_does_not_settle_is_refused(tmp_path: Path) -> None:
    master = tmp_path / "restless.dss"
    master.write_text(f'redirect "{IEEE123}"\nset maxcontroliter=2\n')
    with pytest.raises(
        FeederImportError, match=r"could not compile or solve restless\.dss: .*Max Control Iterations"
    ):
        read_network(master, "t")
