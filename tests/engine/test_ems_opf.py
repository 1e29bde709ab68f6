"""EMS volt/var OPF: every solution re-checked by an independent pandapower power flow built by hand
from the returned set points, shunts and DSO Q requests (voltages within 1e-6 pu of the OPF's own
verification, limits, power balance), lower losses than the starting point, seed 004's contingency."""

from __future__ import annotations

import copy
import functools
import warnings
from dataclasses import replace
from typing import Any

import pandapower as pp
import pandapower.networks as pn
import pytest

from apps.ems.engine.dso import DsoInterface, parse_dso, seed_004_dsos
from apps.ems.engine.grid import SHUNT_START
from apps.ems.engine.opf import OpfInfeasible, OpfResult, run_opf
from apps.ems.engine.volt_var_lp import Weights

LOSSES_ONLY = Weights(voltage=0.0)
UNRATED_MVA = 9000.0


@functools.lru_cache
def _pristine(case: str) -> Any:
    return getattr(pn, case)()


def fresh(case: str) -> Any:
    """pandapower's case (read once per test run: case118's JSON takes seconds)."""
    return copy.deepcopy(_pristine(case))


def dsos_at_load_buses(case: str, feeders: int = 4, share: float = 0.3) -> list[DsoInterface]:
    """A DSO at every load bus: its load split over ``feeders`` feeders that can each give or take
    ``share`` of their real power as reactive power (explicit base P/Q, so the test can rebuild it)."""
    net = fresh(case)
    found = []
    for bus, rows in net.load.groupby("bus"):
        p_kw, q_kvar = 1000 * rows.p_mw.sum() / feeders, 1000 * rows.q_mvar.sum() / feeders
        if p_kw > 0:
            found.append(DsoInterface(int(bus) + 1, feeders, -share * p_kw, share * p_kw, p_kw, q_kvar))
    return found


def rebuild(case: str, result: OpfResult, dsos: list[DsoInterface], outages: list[tuple[int, int]]) -> Any:
    """The OPF's answer applied to a fresh case by hand (bus number = index + 1 in these cases)."""
    net = fresh(case)
    for f, t in outages:
        hit = [{a, b} == {f - 1, t - 1} for a, b in zip(net.line.from_bus, net.line.to_bus, strict=True)]
        net.line.loc[hit, "in_service"] = False
    for table in (net.gen, net.ext_grid):
        table["vm_pu"] = [result.generators[str(b + 1)]["v_set_pu"] for b in table.bus]
    for i, bus in net.shunt.bus.items():
        net.shunt.at[i, "q_mvar"] = result.shunts[str(bus + 1)]
    for dso, sent in zip(dsos, result.dsos, strict=True):
        assert dso.p_kw is not None and dso.q_kvar is not None
        net.load.loc[net.load.bus == dso.bus - 1, "in_service"] = False
        q_kvar = dso.q_kvar - sent.q_request_kvar
        pp.create_load(net, dso.bus - 1, p_mw=dso.count * dso.p_kw / 1000, q_mvar=dso.count * q_kvar / 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, algorithm="nr", numba=False, tolerance_mva=1e-10)
    return net


def assert_verified(
    case: str, result: OpfResult, dsos: list[DsoInterface], outages: list[tuple[int, int]]
) -> None:
    net = rebuild(case, result, dsos, outages)
    for i, vm in net.res_bus.vm_pu.items():
        assert result.buses[str(i + 1)] == pytest.approx(vm, abs=1e-6)
        assert 0.95 - 1e-9 <= vm <= 1.05 + 1e-9, f"bus {i + 1} at {vm}"
    for table, res in ((net.gen, net.res_gen), (net.ext_grid, net.res_ext_grid)):
        q = res.q_mvar.groupby(table.bus).sum()
        assert (q <= table.max_q_mvar.groupby(table.bus).sum() + 1e-6).all()
        assert (q >= table.min_q_mvar.groupby(table.bus).sum() - 1e-6).all()
    rated = net.line.max_i_ka < UNRATED_MVA / (3**0.5 * net.bus.vn_kv[net.line.from_bus].to_numpy())
    assert (net.res_line.loading_percent[rated] <= 100 + 1e-6).all()
    # power balance of the verification solve: generation = demand + losses
    generation = net.res_gen.p_mw.sum() + net.res_ext_grid.p_mw.sum()
    demand = net.res_load.p_mw.sum() + net.res_shunt.p_mw.sum()
    losses = net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum()
    assert generation == pytest.approx(demand + losses, abs=1e-6)
    assert result.losses_mw == pytest.approx(losses, abs=1e-5)
    for dso, sent in zip(dsos, result.dsos, strict=True):
        assert dso.q_min_kvar - 1e-6 <= sent.q_request_kvar <= dso.q_max_kvar + 1e-6
        assert sent.v_pu == pytest.approx(net.res_bus.vm_pu[dso.bus - 1], abs=1e-6)


def start_losses_mw(case: str) -> float:
    """The case's own operating point; case14's set points (1.045–1.09 pu) are brought within 1.05 pu
    first: no point inside the limits can match the losses of one that breaks them."""
    net = fresh(case)
    for table in (net.gen, net.ext_grid):
        table["vm_pu"] = table.vm_pu.clip(0.95, 1.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, numba=False)
    return float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum())


@pytest.mark.parametrize("case", ["case9", "case14", "case30", "case118"])
def test_opf_lowers_losses_and_its_answer_breaks_no_limit(case: str) -> None:
    dsos = dsos_at_load_buses(case)
    result = run_opf(case, dsos, [], LOSSES_ONLY)
    assert_verified(case, result, dsos, [])
    assert result.losses_mw < start_losses_mw(case) - 0.05
    assert result.objective == pytest.approx(result.losses_mw, abs=1e-6)  # losses only, no last resorts
    assert result.iterations >= 2


def test_case9_line_5_6_outage_brings_every_bus_above_0_95_with_dso_vars() -> None:
    dsos = [
        DsoInterface(b, n, -700, 700, 1000 * p / n, 1000 * q / n) for (b, n), (p, q) in SEED_LOADS.items()
    ]
    result = run_opf("case9", dsos, ["5-6"])
    assert min(result.buses_before.values()) < 0.93  # seed 004 §VI-B: buses 5 and 9 sag below 0.95
    assert {v.split(" at ")[0] for v in result.violations_before} == {"bus 5", "bus 9"}
    assert_verified("case9", result, dsos, [(5, 6)])
    assert min(result.buses.values()) >= 0.95
    assert result.objective < result.objective_before
    no_vars = run_opf("case9", seed_004_dsos(0.0), ["5-6"])
    gen_q = sum(g["q_mvar"] for g in result.generators.values())
    assert gen_q < sum(g["q_mvar"] for g in no_vars.generators.values()) - 10  # DSO vars relieve generators
    assert sum(d.q_request_kvar * d.count for d in result.dsos) > 20_000


SEED_LOADS = {(5, 22): (90.0, 30.0), (7, 32): (100.0, 35.0), (9, 25): (125.0, 50.0)}  # case9 MW, Mvar


def test_shunts_end_on_whole_steps_and_default_weights_improve_the_objective() -> None:
    with pytest.raises(
        OpfInfeasible, match=r"case30 \(base case\) meets every limit: branch 6-8 at 111\.8 %"
    ):
        run_opf("case30")  # line 6-8 carries bus 8's 30 Mvar over its 32 MVA rating; vars can't move
    result = run_opf("case30", [DsoInterface(8, 10, -1500, 1500)])  # …unless bus 8's DSO supplies them
    assert "branch 6-8 at 111.8 % of its rating" in result.violations_before
    shunt = fresh("case30").shunt  # each becomes a bank of 8 quarter steps of its case size
    case_q = {str(b + 1): q for b, q in zip(shunt.bus, shunt.q_mvar, strict=True)}
    assert result.shunts.keys() == case_q.keys()
    for bus, q in result.shunts.items():
        steps = q / (case_q[bus] / SHUNT_START)
        assert steps == pytest.approx(round(steps), abs=1e-9) and 0 <= round(steps) <= 8
    assert result.objective < result.objective_before and result.dsos[0].q_request_kvar > 500


def test_demand_response_is_a_last_resort_when_vars_cannot_hold_the_voltage() -> None:
    no_vars = DsoInterface(5, 22, 0, 0, p_kw=4800, q_kvar=2200)  # 106 MW at bus 5, no var capability
    with pytest.raises(OpfInfeasible, match="case9 with outage 5-6 meets every limit"):
        run_opf("case9", [no_vars], ["5-6"])
    result = run_opf("case9", [replace(no_vars, dr_kw=2000)], ["5-6"])
    assert 0 < result.dsos[0].dr_kw < 2000 and min(result.buses.values()) >= 0.95
    easy = run_opf("case9", [DsoInterface(5, 22, -700, 700, pv_kw=300, dr_kw=300)])
    assert easy.dsos[0].dr_kw == 0 and easy.dsos[0].pv_curtailment_kw == 0


@pytest.mark.parametrize(
    ("dsos", "outages", "message"),
    [
        ([DsoInterface(42, 3, -100, 100)], [], "DSO at bus 42 (3 feeders): bus 42 does not exist in case9"),
        ([], ["5-7"], "No line 5-7 in case9"),
        ([DsoInterface(5, 3, 200, 100)], [], "q_min (200 kvar) is above its q_max (100 kvar)"),
        ([DsoInterface(5, 0, -1, 1)], [], "the feeder count must be a whole number from 1 to 10,000, not 0"),
        (
            [DsoInterface(5, 22, -1, 1, p_kw=400_000, q_kvar=0)],
            [],
            "The power flow of case9 (base case) did not converge",
        ),
    ],
)
def test_bad_input_is_refused_with_the_reason(
    dsos: list[DsoInterface], outages: list[str], message: str
) -> None:
    with pytest.raises(ValueError) as err:
        run_opf("case9", dsos, outages)
    assert message in str(err.value)


def test_dso_text_parses_and_bad_text_is_refused() -> None:
    assert parse_dso("9x25:-700:700") == DsoInterface(9, 25, -700.0, 700.0)
    assert parse_dso("5×22:-7e2:700:4000:1300:500:200") == DsoInterface(
        5, 22, -700, 700, 4000, 1300, 500, 200
    )
    for bad in ("9x25:-700", "9:25:-700:700", "9x25:a:700", "9x25:-700:700:1"):
        with pytest.raises(ValueError, match="Bad DSO interface"):
            parse_dso(bad)
