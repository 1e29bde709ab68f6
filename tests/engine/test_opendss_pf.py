"""The OpenDSS reference solves the stored Network: same answer as the original file, and physics holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.dms.engine import opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import DerInjection, Network, OperatingState, PowerFlowResult
from tests.conftest import FEEDERS

MASTERS = {
    "ieee13": FEEDERS / "13Bus" / "IEEE13Nodeckt.dss",
    "ieee123": FEEDERS / "123Bus" / "IEEE123Master.dss",
}


@on_dss_thread  # the import left this circuit active in the OpenDSS thread
def original_pu(net: Network, skip: tuple[str, ...] = ()) -> dict[str, float]:
    """The solution of the circuit the import left active (the original file), in pu of our bases;
    `skip`: buses of ours the file does not have (a three-winding bank's internal star node)."""
    import opendssdirect as dss

    dss.Text.Command("set controlmode=off")  # taps stay where the import's control loop put them
    dss.Text.Command("set tolerance=1e-9")
    dss.Solution.Solve()
    volts = np.array(dss.Circuit.AllBusVolts())
    names = [n.lower() for n in dss.Circuit.AllNodeNames()]
    phasors = dict(zip(names, volts[0::2] + 1j * volts[1::2], strict=True))
    return {
        f"{b.name}.{p}": abs(phasors[f"{b.name}.{p}"]) / (1000 * b.base_kv_ln)
        for b in net.buses
        if b.name not in skip
        for p in b.phases
    }


@pytest.fixture(scope="module", params=sorted(MASTERS))
def feeder(request: pytest.FixtureRequest) -> tuple[Network, dict[str, float]]:
    """A feeder read from its master file, and the original file's own solution."""
    net = read_network(MASTERS[request.param], request.param)
    return net, original_pu(net)


def balance(result: PowerFlowResult) -> tuple[float, float]:
    """Substation power minus (demand + losses), kW and kvar."""
    return (
        result.substation_p_kw - result.demand_p_kw - result.losses_kw,
        result.substation_q_kvar - result.demand_q_kvar - result.losses_kvar,
    )


def test_the_stored_model_reproduces_the_original_files_solution(
    feeder: tuple[Network, dict[str, float]],
) -> None:
    net, original = feeder
    result = opendss_pf.solve(net)
    assert result.converged and result.voltages_pu.keys() == original.keys()
    assert max(abs(result.voltages_pu[k] - v) for k, v in original.items()) < 1e-6


def test_substation_power_is_demand_plus_losses(feeder: tuple[Network, dict[str, float]]) -> None:
    net, _ = feeder
    pv = {"pv": DerInjection(bus=net.loads[0].bus, phases=net.loads[0].phases[:1], p_kw=80.0, q_kvar=-30.0)}
    for state in (OperatingState(), OperatingState(load_scale=0.6, ders=pv)):
        p, q = balance(opendss_pf.solve(net, state))
        assert abs(p) < 1e-3 and abs(q) < 1e-3  # kW, kvar


def test_a_der_injection_offsets_substation_import(feeder: tuple[Network, dict[str, float]]) -> None:
    net, _ = feeder
    base = opendss_pf.solve(net)
    der = DerInjection(bus=net.loads[-1].bus, phases=net.loads[-1].phases[:1], p_kw=100.0, q_kvar=50.0)
    with_der = opendss_pf.solve(net, OperatingState(ders={"pv-1": der}))
    assert base.substation_p_kw - with_der.substation_p_kw == pytest.approx(100.0, rel=0.1)
    # Injected vars also cut the reactive losses upstream, so import falls by more than the injection.
    assert 50.0 < base.substation_q_kvar - with_der.substation_q_kvar < 75.0


def test_load_scale_scales_constant_power_demand() -> None:
    net = read_network(MASTERS["ieee13"], "ieee13")
    constant_pq = net.loads[1]  # 634a, model 1
    assert constant_pq.model == 1
    light = opendss_pf.solve(net, OperatingState(load_scale=0.5))
    full = opendss_pf.solve(net)
    assert light.demand_p_kw < 0.55 * full.demand_p_kw


def test_raising_a_regulator_tap_raises_its_phase_downstream() -> None:
    net = read_network(MASTERS["ieee13"], "ieee13")
    reg1 = next(t for t in net.transformers if t.name == "reg1")
    base = opendss_pf.solve(net)
    raised = opendss_pf.solve(net, OperatingState(taps={"reg1": (reg1.tap[0] + 0.0125,)}))
    assert raised.voltages_pu["rg60.1"] - base.voltages_pu["rg60.1"] == pytest.approx(0.0125, rel=0.05)
    assert raised.voltages_pu["rg60.2"] == pytest.approx(base.voltages_pu["rg60.2"], abs=2e-3)


def test_it_solves_a_master_file_directly() -> None:
    result = opendss_pf.solve(MASTERS["ieee13"])
    assert result.converged and 3500 < result.substation_p_kw < 3600


def test_states_the_feeder_cannot_take_are_refused() -> None:
    net = read_network(MASTERS["ieee13"], "ieee13")
    with pytest.raises(ValueError, match="transformer 'nosuch'"):
        opendss_pf.solve(net, OperatingState(taps={"nosuch": (1.0,)}))
    with pytest.raises(ValueError, match=r"outside \[0.9, 1.1\]"):
        opendss_pf.solve(net, OperatingState(taps={"reg1": (1.2,)}))
    with pytest.raises(ValueError, match="not an energized node"):
        opendss_pf.solve(net, OperatingState(ders={"x": DerInjection("652", (2,), 10.0)}))


# Every connection the importer accepts: a delta-wye substation, a grounded-wye–delta step-down (a
# grounding bank for the feeder), a single-phase phase-to-phase transformer, delta loads and
# capacitors, constant-current and constant-impedance loads, line charging, a PV system, a generator.
MIXED_DSS = """clear
new circuit.mix basekv=69 bus1=src pu=1.02 mvasc3=500 mvasc1=400
new transformer.sub phases=3 windings=2 buses=[src hv] conns=[delta wye] kvs=[69 12.47] kvas=[10000 10000]
~ xhl=8 %rs=[0.5 0.5]
new line.l1 bus1=hv bus2=a phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 c1=10 c0=4 length=2 units=km
new line.l2 bus1=a bus2=b phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=1.5 units=km
new line.l3 bus1=b.2 bus2=c.2 phases=1 r1=0.5 x1=0.5 r0=0.5 x0=0.5 length=1 units=km
new transformer.yd phases=3 windings=2 buses=[a d] conns=[wye delta] kvs=[12.47 4.16] kvas=[2000 2000]
~ xhl=5 %rs=[0.6 0.6]
new transformer.ll phases=1 windings=2 buses=[b.1.3 e.1.3] conns=[delta delta] kvs=[12.47 0.48] kvas=[300 300]
~ xhl=3 %rs=[0.7 0.7]
new load.d3 bus1=d phases=3 conn=delta kv=4.16 kw=900 kvar=300 model=1
new load.d1 bus1=d.1.2 phases=1 conn=delta kv=4.16 kw=150 kvar=50 model=2
new load.b1 bus1=b.1 phases=1 kv=7.2 kw=400 kvar=150 model=5
new load.b3 bus1=b phases=3 kv=12.47 kw=600 kvar=250 model=1
new load.c2 bus1=c.2 phases=1 kv=7.2 kw=200 kvar=90 model=1
new load.e bus1=e.1.3 phases=1 conn=delta kv=0.48 kw=180 kvar=60 model=1
new capacitor.cd bus1=b phases=3 conn=delta kvar=300 kv=12.47
new pvsystem.pv bus1=c.2 phases=1 kv=7.2 kva=150 pmpp=140 irradiance=1 pf=0.95
new generator.g bus1=a phases=3 kv=12.47 kw=300 kvar=-100 model=1
set voltagebases=[69 12.47 4.16 0.48]
calcv
"""


def test_the_stored_model_reproduces_every_connection_type(tmp_path: Path) -> None:
    (tmp_path / "mixed.dss").write_text(MIXED_DSS)
    net = read_network(tmp_path / "mixed.dss", "mixed")
    assert {g.name: round(g.p_kw) for g in net.generators} == {"pv": 140, "g": 300}
    original = original_pu(net)
    result = opendss_pf.solve(net)
    assert max(abs(result.voltages_pu[k] - v) for k, v in original.items()) < 1e-6


def test_no_der_goes_where_a_delta_winding_leaves_no_ground(tmp_path: Path) -> None:
    (tmp_path / "mixed.dss").write_text(MIXED_DSS)
    net = read_network(tmp_path / "mixed.dss", "mixed")
    assert net.ungrounded_buses() == {"d", "e"}
    with pytest.raises(ValueError, match="bus d, which a delta winding feeds without a ground reference"):
        opendss_pf.solve(net, OperatingState(ders={"pv": DerInjection("d", (1,), 10.0)}))
