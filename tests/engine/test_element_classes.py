"""Element classes of real feeders on small circuits, each checked against OpenDSS solving the original
file (issue #15): our model written back to OpenDSS reproduces it to 1e-6 pu, and LinDist3Flow (from
scratch, refreshed) is within seed 004's Table III (mean ≤ 0.02 %, max ≤ 0.07 %).

* `line_impedances.dss`: lines whose impedances OpenDSS computes from a LineGeometry of WireData
  (overhead, neutral reduced), a LineSpacing with wires, a CNData concentric-neutral cable geometry
  and a one-phase TSData tape-shielded cable. The import takes OpenDSS's own matrices.
* `devices_and_controls.dss`: a fuse, a recloser and a SwtControl on closed lines, an open tie
  between two laterals, a two-phase line-to-line lateral, three single-phase regulators with
  line-drop compensation and a three-phase regulator behind them, and a capacitor its CapControl
  switches in. Taps and capacitor states are those OpenDSS's controls settled on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from tests.conftest import FEEDERS
from tests.engine.test_opendss_pf import original_pu

SMALL = FEEDERS / "small"


def assert_solves_like_the_original(net: Network) -> None:
    reference = original_pu(net)
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
    linear = lindist3flow.build(net).solve(iterations=20).voltages_pu
    errors = [abs(linear[k] - v) / v * 100 for k, v in reference.items()]
    assert sum(errors) / len(errors) <= 0.02 and max(errors) <= 0.07


def test_line_impedances_from_geometries_spacings_and_cables() -> None:
    net = read_network(SMALL / "line_impedances.dss", "lines")
    lines = {ln.name: ln for ln in net.lines}
    assert sorted(lines) == ["cn", "geom", "spac", "ts"]
    assert lines["ts"].phases == (2,) and len(lines["cn"].phases) == 3
    # The same wires on the same poles give the same impedance, whether by geometry or by spacing.
    per_km = {k: lines[k].z_matrix() / lines[k].length_km for k in ("geom", "spac")}
    assert per_km["geom"] == pytest.approx(per_km["spac"], rel=1e-9)
    cable, overhead = lines["cn"].z_matrix(), per_km["geom"] * lines["cn"].length_km
    assert cable[0, 0].imag < 0.6 * overhead[0, 0].imag  # a cable's conductors sit close: less reactance
    assert_solves_like_the_original(net)


def test_a_line_with_more_conductors_than_its_buses_name_is_refused_naming_it(tmp_path: Path) -> None:
    """Without reduce=yes the tape-shielded cable keeps its neutral as a second conductor, and bus
    `b.2` gives it one node: OpenDSS connects both conductors to node 2."""
    text = (SMALL / "line_impedances.dss").read_text().replace("units=in reduce=yes", "units=in")
    (tmp_path / "unreduced.dss").write_text(text)
    with pytest.raises(FeederImportError, match=r"Line\.ts has 2 conductors but its buses name fewer nodes"):
        read_network(tmp_path / "unreduced.dss", "unreduced")


def test_protective_devices_regulator_banks_and_switched_capacitors() -> None:
    net = read_network(SMALL / "devices_and_controls.dss", "devices")
    assert {b.name for b in net.buses} == {"src", "sub", "reg", "f1", "f2", "l1", "l2", "l3", "m", "l4", "l5"}
    assert "tie" not in {ln.name for ln in net.lines}  # open: not a path for power
    taps = {t.name: t.tap for t in net.transformers}
    assert (
        taps["rega"] == pytest.approx(taps["regc"]) and taps["rega"] != taps["regb"]
    )  # each bank on its own phase's current (LDC)
    assert taps["reg2"][0] > 1.0
    assert {c.name for c in net.capacitors} == {"c1", "c2"}  # c1 switched in by its CapControl
    assert_solves_like_the_original(net)


def test_a_recloser_that_trips_in_the_solve_leaves_what_is_behind_it_out(tmp_path: Path) -> None:
    """OpenDSS's default recloser trips at 1 A: the circuit's solution has everything behind it dead,
    and so does the model, which then holds only what is energized."""
    text = (SMALL / "devices_and_controls.dss").read_text()
    tripping = text.replace(" phasetrip=800 groundtrip=400 phaseinst=2000 groundinst=1200", "")
    (tmp_path / "trip.dss").write_text(tripping)
    net = read_network(tmp_path / "trip.dss", "trip")
    assert {b.name for b in net.buses} == {"src", "sub", "reg", "f1"}
    assert_solves_like_the_original(net)


def test_closing_the_tie_is_refused_as_a_loop_naming_the_line(tmp_path: Path) -> None:
    meshed = (SMALL / "devices_and_controls.dss").read_text().replace("open line.tie 1", "")
    (tmp_path / "mesh.dss").write_text(meshed)
    with pytest.raises(FeederImportError, match=r"Line\.\w+ closes a loop between buses l\d and l\d"):
        read_network(tmp_path / "mesh.dss", "mesh")
