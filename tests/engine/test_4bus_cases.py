"""The IEEE 4-bus transformer-connection test cases as published with OpenDSS (issue #15). The
connections the model covers import and solve like the original file (our export to 1e-6 pu), and
LinDist3Flow, calibrated at the base case as every study and dispatch builds it, follows OpenDSS at
half and at 1.1 times the load within seed 004's Table III (mean ≤ 0.02 %, max ≤ 0.07 %). Behind an
ungrounded delta winding the phase-to-ground voltages float on the lines' capacitance (OpenDSS puts
4Bus-GrdYD's balanced secondary at 0.99, 1.01 and 0.93 pu); there a bus's three-phase mean is compared,
which the floating neutral does not move. The wye–wye–delta three-winding bank (4Bus-YYD) is modelled
by its star equivalent; three-winding units beyond that are refused with the transformer named and the
reason, and nothing else happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.dms.engine import lindist3flow, opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import FeederImportError, Network, OperatingState
from apps.dms.engine.studies import validate
from tests.conftest import FEEDERS
from tests.engine.test_opendss_pf import original_pu

FOUR_BUS = FEEDERS / "4bus"


@pytest.mark.parametrize(
    ("path", "units"),
    [
        ("4Bus-DY-Bal/4Bus-DY-Bal.DSS", 1),
        ("4Bus-GrdYD-Bal/4Bus-GrdYD-Bal.DSS", 1),
        ("4Bus-YY-Bal/4Bus-YY-Bal.DSS", 1),
        ("4Bus-YD-Bal/4Bus-YD-Bal.DSS", 1),  # the wye primary's neutral floats
        ("4Bus-OYOD-Bal/4Bus-OYOD-Bal.DSS", 2),  # open wye / open delta: two single-phase units
        ("4Bus-OYOD-UnBal/4bus-OYOD-UnBal.dss", 2),
    ],
)
def test_a_covered_connection_solves_like_the_original_file(path: str, units: int) -> None:
    net = read_network(FOUR_BUS / path, "four")
    reference = original_pu(net)
    assert len(net.buses) == 4 and len(net.transformers) == units
    # In pu of the windings' ratings: OpenDSS's calcvoltagebases gave the open-delta secondary 7.2 kV
    # (0.28 pu shown); the import takes the rating's 2.4 kV.
    assert min(reference.values()) > 0.6 and max(reference.values()) < 1.1
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
    model = lindist3flow.build(net, opendss_pf.solve(net))
    for scale in (0.5, 1.1):
        state = OperatingState(load_scale=scale)
        theirs = opendss_pf.solve(net, state).voltages_pu
        linear = model.solve(state, iterations=40).voltages_pu
        errors = [abs(a - b) / b * 100 for a, b in _comparable(net, linear, theirs)]
        assert sum(errors) / len(errors) <= 0.02 and max(errors) <= 0.07, scale


def test_the_wye_wye_delta_three_winding_bank_solves_like_the_original_file() -> None:
    """4Bus-YYD: three single-phase three-winding units, B2 (wye) to B3 (wye, loaded at B4) and a
    delta tertiary B5 (loaded at B6), as the star equivalent of each unit around one internal bus.
    Before, the bank was refused; then, modelled without the zero sequence circulating in the closed
    delta tertiary, LinDist3Flow's converged answer missed OpenDSS by 0.11 % at half load."""
    net = read_network(FOUR_BUS / "4Bus-YYD" / "YYD-Master-step1.DSS", "yyd")
    reference = original_pu(net, skip=("yyda_star",))
    assert [b.name for b in net.buses][-1] == "yyda_star" and len(net.buses) == 7
    assert sorted(t.name for t in net.transformers) == sorted(f"yyd{u}_{w}" for u in "abc" for w in "hlt")
    ours = opendss_pf.solve(net).voltages_pu
    assert max(abs(ours[k] - v) for k, v in reference.items()) < 1e-6
    assert min(reference.values()) > 0.89  # B6.3, the delta's lowest phase
    model = lindist3flow.build(net, opendss_pf.solve(net))
    for scale in (0.5, 1.1):
        state = OperatingState(load_scale=scale)
        theirs = opendss_pf.solve(net, state).voltages_pu
        converged = model.solve(state, iterations=40).voltages_pu
        errors = [abs(a - b) / b * 100 for a, b in _comparable(net, converged, theirs)]
        assert sum(errors) / len(errors) <= 0.02 and max(errors) <= 0.07, scale
        grounded = [k for k in theirs if k.split(".")[0] not in net.ungrounded_buses()]
        assert max(abs(converged[k] - theirs[k]) / theirs[k] for k in grounded) < 1e-6, scale


def test_the_full_yyd_master_is_refused_at_its_fault_study() -> None:
    with pytest.raises(
        FeederImportError, match=r"line 103: an imported feeder is solved in snapshot mode only"
    ):
        read_network(FOUR_BUS / "4Bus-YYD" / "YYD-Master.DSS", "four")


THREE_WINDING = """clear
new circuit.tw basekv=12.47 bus1=src
new line.l1 bus1=src.1.2.3 bus2=p.1.2.3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 length=1
{units}
new load.a bus1=s.1 phases=1 kv=0.24 kw=5
set voltagebases=[12.47, 0.416]
calcv
solve
"""


UNIT = (
    "new transformer.{name} phases=1 windings=3 buses=[p.1.0 s.1.0 q.1.2] kvs=[7.2 0.24 0.24] kvas=[50 50 50]"
)


@pytest.mark.parametrize(
    ("units", "message"),
    [
        (  # a primary between two phases
            "new transformer.t1 phases=1 windings=3 buses=[p.1.2 s.1.0 q.1.2] kvs=[12.47 0.24 0.24] "
            "kvas=[50 50 50]",
            r"Transformer\.t1: a three-winding unit is modelled with its primary from a phase to ground",
        ),
        (  # two units on one phase feeding the same buses
            f"{UNIT.format(name='t1')}\n{UNIT.format(name='t2')}",
            r"Transformer\.t2 is a second three-winding unit on phase 1 of bus p",
        ),
        (  # three phases, three windings
            "new transformer.t1 phases=3 windings=3 buses=[p s q] conns=[wye wye delta] "
            "kvs=[12.47 0.416 0.416] kvas=[500 500 500]",
            r"Transformer\.t1 has three windings but is not a center-tapped single-phase transformer "
            r"\(3 phases\)",
        ),
    ],
)
def test_a_three_winding_unit_not_modelled_is_refused_naming_it(
    tmp_path: Path, units: str, message: str
) -> None:
    master = tmp_path / "tw.dss"
    master.write_text(THREE_WINDING.format(units=units))
    with pytest.raises(FeederImportError, match=message):
        read_network(master, "tw")


def _comparable(net: Network, ours: dict[str, float], theirs: dict[str, float]) -> list[tuple[float, float]]:
    """(ours, OpenDSS) per node-phase, or per bus as the mean of its phases where the neutral floats."""
    floating = net.ungrounded_buses()
    pairs = [(ours[k], v) for k, v in theirs.items() if k.split(".")[0] not in floating]
    for bus in floating:
        keys = [k for k in theirs if k.split(".")[0] == bus]
        pairs.append((sum(ours[k] for k in keys) / len(keys), sum(theirs[k] for k in keys) / len(keys)))
    return pairs


def test_the_sweep_runs_on_a_feeder_with_an_ungrounded_delta_secondary() -> None:
    """validate_feeder's sweep puts single-phase PV on load node-phases; behind 4Bus-GrdYD's delta
    there is no ground for one ("DER … delta winding … without ground" ended the command). The sweep
    places none there and still checks every point."""
    net = read_network(FOUR_BUS / "4Bus-GrdYD-Bal" / "4Bus-GrdYD-Bal.DSS", "grdyd")
    rows = validate(net, iterations=40)
    assert len(rows) == 29 and all(r.max_v_err_pct < 0.5 for r in rows)
