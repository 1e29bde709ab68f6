"""Center-tapped single-phase service transformers with their 120/240 V triplex secondaries (issue #15):
`small/split_phase.dss` has two (one on phase 1, a smaller one on phase 2) feeding 240 V loads across
both half-windings, 120 V loads on each, and a triplex service drop. Checked against OpenDSS solving
the original file: our model written back reproduces it to 1e-6 pu; LinDist3Flow from scratch is within
seed 004's Table III (mean ≤ 0.02 %, max ≤ 0.07 %), and calibrated at the base case it follows OpenDSS
across the load / PV sweep within 0.1 %."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.capability.engine.curve import capability_curve
from apps.capability.engine.pv import PVUnit
from apps.capability.engine.validation import validate_curve
from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network
from apps.dms.engine.studies import validate
from tests.conftest import FEEDERS
from tests.engine.test_element_classes import assert_solves_like_the_original
from tests.engine.test_opendss_pf import original_pu

SPLIT_PHASE = FEEDERS / "small" / "split_phase.dss"


def _read(tmp_path: Path, old: str = "", new: str = "") -> Network:
    (tmp_path / "sp.dss").write_text(SPLIT_PHASE.read_text().replace(old, new))
    return read_network(tmp_path / "sp.dss", "split")


def test_a_center_tap_feeds_two_120_v_nodes_in_opposition(tmp_path: Path) -> None:
    net = _read(tmp_path)
    ct1 = {t.name: t for t in net.transformers}["ct1"]
    assert (ct1.phases, ct1.phases_to, ct1.kv_from, ct1.kv_to) == ((1,), (1, 2), 7.2, 0.12)
    assert ct1.center_tap_pct == (0.6, 1.2, 1.2, 2.04, 2.04, 1.36)
    assert net.bus["h1"].phases == (1, 2) and net.bus["h1"].base_kv_ln == pytest.approx(0.12, rel=1e-3)
    assert_solves_like_the_original(net)
    angles = opendss_pf.solve(net).angles_deg
    assert abs(abs(angles["s1.1"] - angles["s1.2"]) - 180.0) < 1.0  # 240 V between them


def test_a_center_tap_across_two_primary_phases(tmp_path: Path) -> None:
    net = _read(
        tmp_path,
        "buses=[p.2 s2.1.0 s2.0.2] conns=[wye wye wye] kvs=[7.2",
        "buses=[p.2.3 s2.1.0 s2.0.2] conns=[wye wye wye] kvs=[12.47",
    )
    ct2 = {t.name: t for t in net.transformers}["ct2"]
    assert (ct2.phases, ct2.conn_from) == ((2, 3), "delta")
    assert_solves_like_the_original(net)


def test_the_sweep_meets_the_target_on_split_phase_secondaries(tmp_path: Path) -> None:
    """PV on the 120 V nodes, loads scaled 0.3–1.2: the validation's 28 points within 0.1 %."""
    rows = validate(_read(tmp_path), iterations=50)
    assert len(rows) == 29 and max(r.max_v_err_pct for r in rows) <= 0.1


def test_linear_model_alone_is_close_at_the_base_case(tmp_path: Path) -> None:
    net = _read(tmp_path)
    exact = opendss_pf.solve(net).voltages_pu
    linear = lindist3flow.build(net).solve(iterations=0).voltages_pu
    assert max(abs(linear[k] - v) / v * 100 for k, v in exact.items()) < 1.0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "s1.1.0 s1.0.2]",
            "s1.1.0 s1.2.0]",
            r"Transformer\.ct1 has three windings but is not a center-tapped single-phase transformer: its "
            r"secondary windings must run from one node to ground and from ground to another",
        ),
        (
            "kvas=[50 50 50]",
            "kvas=[50 25 25]",
            r"Transformer\.ct1: its half-windings differ from each other or from the primary's kVA",
        ),
    ],
)
def test_other_three_winding_units_are_refused_naming_them(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(FeederImportError, match=message):
        _read(tmp_path, old, new)


def test_a_capability_curve_with_pv_on_the_120_v_nodes_holds_in_opendss(tmp_path: Path) -> None:
    net = _read(tmp_path)
    units = [
        PVUnit("roof-1", "h1", (1,), 6.0, 6.6),
        PVUnit("roof-2", "h1", (2,), 4.0, 4.4),
        PVUnit("roof-3", "s2", (1,), 8.0, 8.8),
    ]
    curve = capability_curve(net, units, [0.0, 0.5])
    assert all(p.feasible for p in curve.points)
    assert validate_curve(net, curve).meets_targets()


def test_a_single_phase_unit_from_phase_to_ground_onto_two_phases(tmp_path: Path) -> None:
    """A two-winding unit whose primary is phase to ground and secondary phase to phase (a 240 V
    service without a center tap): read, not refused for 'different phases on its two windings'."""
    net = _read(
        tmp_path,
        "new transformer.ct2 phases=1 windings=3 buses=[p.2 s2.1.0 s2.0.2] conns=[wye wye wye] "
        "kvs=[7.2 0.12 0.12] kvas=[25 25 25] %rs=[0.6 1.2 1.2] xhl=2.04 xht=2.04 xlt=1.36",
        "new transformer.ct2 phases=1 windings=2 buses=[p.2 s2.1.2] conns=[wye delta] kvs=[7.2 0.24] "
        "kvas=[25 25] %rs=[0.6 0.6] xhl=2.04",
    )
    ct2 = {t.name: t for t in net.transformers}["ct2"]
    assert (ct2.phases, ct2.phases_to, ct2.is_center_tap) == ((2,), (1, 2), False)
    reference = original_pu(net)
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
