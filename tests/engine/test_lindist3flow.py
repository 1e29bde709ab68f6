"""LinDist3Flow against OpenDSS on the IEEE feeders: base case, physics, refresh, sensitivities, speed.

Voltage errors are |ΔV| in % of the OpenDSS value over every node-phase.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.dms.engine import lindist3flow, opendss_pf, vlsm
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import (
    Bus,
    DerInjection,
    Line,
    Load,
    Network,
    OperatingState,
    PowerFlowResult,
    voltage_error_pct,
)
from tests.engine.test_opendss_pf import MASTERS, MIXED_DSS

# A few node-phases per feeder to perturb for the sensitivity check: ends of laterals, each phase.
PROBES = {"ieee13": ("675.1", "634.2", "611.3", "652.1"), "ieee123": ("114.1", "83.3", "49.1", "300.2")}


@pytest.fixture(scope="module", params=sorted(MASTERS))
def feeder(request: pytest.FixtureRequest) -> tuple[str, Network, PowerFlowResult]:
    net = read_network(MASTERS[request.param], request.param)
    return request.param, net, opendss_pf.solve(net)


def errors(result: PowerFlowResult, reference: PowerFlowResult) -> tuple[float, float]:
    err = list(voltage_error_pct(result, reference).values())
    return float(np.mean(err)), float(np.max(err))


def test_the_base_case_matches_opendss_within_the_papers_table_iii(
    feeder: tuple[str, Network, PowerFlowResult],
) -> None:
    _, net, base = feeder
    result = lindist3flow.build(net, base).solve()
    mean, worst = errors(result, base)
    assert mean <= 0.02 and worst <= 0.07
    assert result.substation_q_kvar == pytest.approx(base.substation_q_kvar, rel=1e-3)


def test_substation_power_is_demand_plus_losses(feeder: tuple[str, Network, PowerFlowResult]) -> None:
    _, net, base = feeder
    model = lindist3flow.build(net, base)
    pv = {"pv": DerInjection(net.loads[0].bus, net.loads[0].phases[:1], p_kw=150.0, q_kvar=40.0)}
    for state in (OperatingState(), OperatingState(load_scale=0.4, ders=pv)):
        for iterations in (0, 3):
            r = model.solve(state, iterations=iterations)
            assert abs(r.substation_p_kw - r.demand_p_kw - r.losses_kw) < 1e-6  # kW
            assert abs(r.substation_q_kvar - r.demand_q_kvar - r.losses_kvar) < 1e-6  # kvar


def test_refreshing_an_uncalibrated_model_converges_to_opendss(
    feeder: tuple[str, Network, PowerFlowResult],
) -> None:
    _, net, base = feeder
    model = lindist3flow.build(net)  # flat start, no loss terms: pure LinDist3Flow
    assert errors(model.solve(), base)[1] < 2.0
    refreshed = model.solve(iterations=40)
    assert refreshed.converged and errors(refreshed, base)[1] < 0.01


def test_a_model_refreshed_at_an_opendss_solution_reproduces_it(
    feeder: tuple[str, Network, PowerFlowResult],
) -> None:
    _, net, base = feeder
    load = net.loads[0]
    state = OperatingState(load_scale=0.5, ders={"pv": DerInjection(load.bus, load.phases[:1], 200.0, -50.0)})
    there = opendss_pf.solve(net, state)
    assert errors(lindist3flow.build(net, base).refreshed(there).solve(state), there)[1] < 1e-6


def test_taps_and_source_voltage_of_the_state_are_honoured(
    feeder: tuple[str, Network, PowerFlowResult],
) -> None:
    _, net, base = feeder
    head = [t for t in net.transformers if t.is_feeder_head]
    state = OperatingState(taps={t.name: tuple(x + 0.0125 for x in t.tap) for t in head}, source_pu=1.02)
    result = lindist3flow.build(net, base).solve(state, iterations=3)
    assert errors(result, opendss_pf.solve(net, state))[1] < 0.05


def test_sensitivities_match_opendss_finite_differences(feeder: tuple[str, Network, PowerFlowResult]) -> None:
    """Each probe gets 20 kW, then 20 kvar; dV over every node-phase within 10 % / 7 % (relative L2),
    substation import per unit injected within 2 %."""
    name, net, base = feeder
    sens = lindist3flow.build(net, base).sensitivities(columns=PROBES[name])
    cases = (("p", sens.dv_dp, sens.dp_sub_dp, 0.10), ("q", sens.dv_dq, sens.dq_sub_dq, 0.07))
    for j, key in enumerate(sens.keys):
        bus, phase = key.split(".")
        for kind, dv, dsub, tol in cases:
            der = DerInjection(bus, (int(phase),), 20.0 * (kind == "p"), 20.0 * (kind == "q"))
            moved = opendss_pf.solve(net, OperatingState(ders={"probe": der}))
            fd = np.array([(moved.voltages_pu[k] - base.voltages_pu[k]) / 20.0 for k in sens.rows])
            assert np.linalg.norm(dv[:, j] - fd) <= tol * np.linalg.norm(fd), key
            if kind == "p":
                fd_sub = (moved.substation_p_kw - base.substation_p_kw) / 20.0
            else:
                fd_sub = (moved.substation_q_kvar - base.substation_q_kvar) / 20.0
            assert dsub[j] == pytest.approx(fd_sub, rel=0.02), key


def test_sensitivities_are_the_models_own_slopes(feeder: tuple[str, Network, PowerFlowResult]) -> None:
    name, net, base = feeder
    model = lindist3flow.build(net, base)
    key = PROBES[name][0]
    sens = model.sensitivities(columns=[key])
    bus, phase = key.split(".")
    moved = model.solve(OperatingState(ders={"probe": DerInjection(bus, (int(phase),), 1.0, 0.0)}))
    still = model.solve()
    dv = np.array([moved.voltages_pu[k] - still.voltages_pu[k] for k in sens.rows])
    assert np.allclose(dv, sens.dv_dp[:, 0], rtol=1e-3, atol=1e-9)


def test_a_10000_node_phase_feeder_solves_with_power_balance() -> None:
    """Size is no obstacle (timings are in benchmarks/powerflow.py, not here)."""
    net = synthetic_feeder(3400)
    assert len(net.node_keys()) >= 10_000
    model = lindist3flow.build(net)
    light, heavy = (model.solve(OperatingState(load_scale=s)) for s in (0.8, 1.1))
    assert 0.85 < min(heavy.voltages_pu.values()) < min(light.voltages_pu.values()) < 1.0
    assert heavy.substation_p_kw == pytest.approx(heavy.demand_p_kw + heavy.losses_kw, abs=1e-6)


def synthetic_feeder(buses: int) -> Network:
    """A random radial 12.47 kV feeder of three-phase buses, one single-phase load each."""
    rng = np.random.default_rng(7)
    z = 0.05 * np.array(
        [
            [0.087 + 0.204j, 0.030 + 0.095j, 0.029 + 0.073j],
            [0.030 + 0.095j, 0.088 + 0.199j, 0.030 + 0.080j],
            [0.029 + 0.073j, 0.030 + 0.080j, 0.087 + 0.202j],
        ]
    )
    z_ohm = tuple(tuple(complex(v) for v in row) for row in z)
    nodes = [Bus("b0", (1, 2, 3), 7.2)]
    lines, loads = [], []
    for k in range(1, buses):
        parent = nodes[int(rng.integers(max(0, k - 20), k))].name
        nodes.append(Bus(f"b{k}", (1, 2, 3), 7.2))
        lines.append(Line(f"l{k}", parent, f"b{k}", (1, 2, 3), z_ohm, ((0.0,) * 3,) * 3, 0.1))
        loads.append(Load(f"d{k}", f"b{k}", (int(rng.integers(1, 4)),), "wye", 3.0, 1.0, 1, 7.2))
    src_z = ((0.01j, 0j, 0j), (0j, 0.01j, 0j), (0j, 0j, 0.01j))
    return Network(
        "synthetic", "b0", 12.47, 1.0, tuple(nodes), tuple(lines), (), tuple(loads), (), (), 0.0, src_z
    )


def test_refresh_converges_to_opendss_on_every_connection_type(tmp_path: Path) -> None:
    (tmp_path / "mixed.dss").write_text(MIXED_DSS)
    net = read_network(tmp_path / "mixed.dss", "mixed")
    model = lindist3flow.build(net)
    # Off-nominal taps on the delta-wye, the grounding bank and the phase-to-phase unit.
    state = OperatingState(load_scale=1.2, taps={"sub": (1.05,) * 3, "yd": (0.95,) * 3, "ll": (1.025,)})
    reference = opendss_pf.solve(net, state)
    result = model.solve(state, iterations=40)
    assert result.converged and errors(result, reference)[1] < 1e-3
    with pytest.raises(ValueError, match="without a ground reference"):
        model.solve(OperatingState(ders={"pv": DerInjection("e", (1,), 10.0)}))


def assert_same_sensitivities(fast: lindist3flow.Sensitivities, ref: lindist3flow.Sensitivities) -> None:
    """The bus-block elimination reproduces the SuperLU solves to rounding (pu per kW / kvar)."""
    assert fast.rows == ref.rows and fast.keys == ref.keys
    for name in ("dv_dp", "dv_dq", "dp_sub_dp", "dp_sub_dq", "dq_sub_dp", "dq_sub_dq", "dv_dsource"):
        assert np.abs(getattr(fast, name) - getattr(ref, name)).max() <= 1e-12, name


def test_tree_sensitivities_equal_the_superlu_solves(feeder: tuple[str, Network, PowerFlowResult]) -> None:
    _, net, base = feeder
    model = lindist3flow.build(net, base)
    pv = {"pv": DerInjection(net.loads[0].bus, net.loads[0].phases[:1], p_kw=150.0, q_kvar=40.0)}
    for state in (OperatingState(), OperatingState(load_scale=0.6, ders=pv)):
        fast = model.sensitivities(state, method="tree")
        assert model._factor(state).tree is not None  # the tree path ran, not the fallback
        assert_same_sensitivities(fast, model.sensitivities(state, method="superlu"))
    half = model.sensitivities(method="tree", dtype=np.float32)
    assert half.dv_dp.dtype == np.float32
    assert np.abs(half.dv_dq - model.sensitivities(method="tree").dv_dq).max() <= 1e-9


def test_tree_sensitivities_on_every_connection_type_and_at_10000_node_phases(tmp_path: Path) -> None:
    (tmp_path / "mixed.dss").write_text(MIXED_DSS)
    mixed = lindist3flow.build(read_network(tmp_path / "mixed.dss", "mixed"))
    state = OperatingState(load_scale=1.2, taps={"sub": (1.05,) * 3, "yd": (0.95,) * 3, "ll": (1.025,)})
    fast = mixed.sensitivities(state, method="tree")
    assert_same_sensitivities(fast, mixed.sensitivities(state, method="superlu"))
    assert mixed._factor(state).tree is not None
    big = lindist3flow.build(synthetic_feeder(3400))
    columns = np.random.default_rng(3).choice(big.keys, 60, replace=False).tolist()
    assert_same_sensitivities(
        big.sensitivities(columns=columns), big.sensitivities(columns=columns, method="superlu")
    )
    assert big._factor(OperatingState()).tree is not None
    with pytest.raises(ValueError, match="Unknown sensitivity method"):
        big.sensitivities(columns=columns, method="dense")


def test_a_system_that_is_not_tree_shaped_is_refused_by_the_bus_block_factorization() -> None:
    model = lindist3flow.build(synthetic_feeder(30))
    f = model._factor(OperatingState())
    far = [model.keys.index("b0.1"), model.keys.index(model.keys[-1])]  # the source bus and a leaf
    loop = f.a.tolil()
    loop[model._n + far[0], far[1]] = 0.1  # a P equation reading a distant bus's Y
    assert vlsm.factor(f.a, model.keys, model.net.topology().parent) is not None
    assert vlsm.factor(loop.tocsc(), model.keys, model.net.topology().parent) is None
