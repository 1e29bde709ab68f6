"""EMS what-if power flow: the same answer as pandapower driven by hand, seed 004 Table VII, clear errors."""

from __future__ import annotations

import warnings
from typing import Any

import pandapower as pp
import pandapower.networks as pn
import pytest

from apps.ems.engine.case import Injection, branch_names, load_case, parse_injection
from apps.ems.engine.whatif import WhatIfResult, run_whatif

SEED_004_TABLE_VII = {  # Mvar of the generators at buses 1, 2, 3 (seed 004 §VI, case9, DER at bus 7)
    (0.0, False): (30.28, 14.92, -3.52),
    (22.0, False): (26.4, 3.75, -12.95),
    (0.0, True): (85.62, 45.36, 10.21),
    (22.0, True): (82.30, 33.37, -0.31),
}


def by_hand(case: str, sgens: list[tuple[int, float, float]], lines_out: list[tuple[int, int]]) -> Any:
    """An independent pandapower run: 1-based bus numbers are index + 1 in these MATPOWER cases."""
    net = getattr(pn, case)()
    for bus, p, q in sgens:
        pp.create_sgen(net, bus - 1, p_mw=p, q_mvar=q)
    for f, t in lines_out:
        ends = {f - 1, t - 1}
        hit = net.line.index[
            [{a, b} == ends for a, b in zip(net.line.from_bus, net.line.to_bus, strict=True)]
        ]
        assert len(hit) == 1
        net.line.loc[hit, "in_service"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp(net, algorithm="nr")
    return net


def assert_same(result: WhatIfResult, net: Any) -> None:
    assert result.buses.keys() == {str(i + 1) for i in net.bus.index}
    for i, vm in net.res_bus.vm_pu.items():
        assert result.buses[str(i + 1)] == pytest.approx(vm, abs=1e-4)
    expected: dict[str, float] = {}
    for table, res in ((net.ext_grid, net.res_ext_grid), (net.gen, net.res_gen)):
        for i, bus in table.bus.items():
            expected[str(bus + 1)] = expected.get(str(bus + 1), 0.0) + res.q_mvar[i]
    assert result.generators.keys() == expected.keys()
    for bus, q in expected.items():
        assert result.generators[bus] == pytest.approx(q, abs=0.01)
    assert result.losses_mw == pytest.approx(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum(), abs=1e-4)


def test_case9_base_matches_pandapower() -> None:
    result = run_whatif("case9", [], [])
    assert_same(result, by_hand("case9", [], []))
    assert result.as_json().keys() == {"buses", "generators", "losses_mw"}
    assert list(result.generators) == ["1", "2", "3"]


@pytest.mark.parametrize(("q_mvar", "outage"), list(SEED_004_TABLE_VII))
def test_seed_004_table_vii_scenarios_match_pandapower_and_the_paper(q_mvar: float, outage: bool) -> None:
    result = run_whatif("case9", [Injection(7, 45.0, q_mvar)], ["5-6"] if outage else [])
    assert_same(result, by_hand("case9", [(7, 45.0, q_mvar)], [(5, 6)] if outage else []))
    paper = SEED_004_TABLE_VII[(q_mvar, outage)]
    assert [result.generators[b] for b in ("1", "2", "3")] == pytest.approx(paper, abs=0.01)


def test_outage_lowers_voltages_and_der_vars_raise_them_and_relieve_generators() -> None:
    runs = {
        (q, out): run_whatif("case9", [Injection(7, 45, q)], ["5-6"] if out else [])
        for q, out in SEED_004_TABLE_VII
    }
    for q in (0.0, 22.0):
        assert runs[(q, True)].buses["5"] < runs[(q, False)].buses["5"] - 0.05
        assert runs[(q, True)].buses["7"] < runs[(q, False)].buses["7"]
        assert sum(runs[(q, True)].generators.values()) > sum(runs[(q, False)].generators.values())
    for out in (False, True):
        with_var, no_var = runs[(22.0, out)], runs[(0.0, out)]
        assert with_var.buses["5"] > no_var.buses["5"] and with_var.buses["7"] > no_var.buses["7"]
        assert all(with_var.generators[b] < no_var.generators[b] for b in ("1", "2", "3"))


def test_case14_line_outage_matches_pandapower() -> None:
    assert_same(
        run_whatif("case14", [Injection(9, 10.0, 5.0)], ["2-3"]),
        by_hand("case14", [(9, 10.0, 5.0)], [(2, 3)]),
    )


def test_case14_transformer_outage_and_parallel_names() -> None:
    base, out = run_whatif("case14"), run_whatif("case14", [], ["7-4"])  # a transformer, either order
    assert out.buses["9"] != pytest.approx(base.buses["9"], abs=1e-4)
    assert "4-7" in branch_names(load_case("case14"), "trafo")


def test_parses_injections() -> None:
    assert parse_injection("7:45:22") == Injection(7, 45.0, 22.0)
    assert parse_injection(" 7 : -1.5e1 : 0 ") == Injection(7, -15.0, 0.0)


@pytest.mark.parametrize("text", ["7:45", "7:45:22:1", "x:1:2", "7:a:2", "7:1e:2", "", "7.5:1:2"])
def test_rejects_malformed_injections(text: str) -> None:
    with pytest.raises(ValueError, match=r"Bad injection .* BUS:P_MW:Q_MVAR"):
        parse_injection(text)


@pytest.mark.parametrize(
    ("case", "injections", "outages", "message"),
    [
        ("case9", [Injection(42, 1, 0)], [], r"^Bus 42 does not exist in case9 \(buses 1–9\)\.$"),
        ("case9", [], ["5-7"], r"^No line 5-7 in case9; lines: 1-4, 2-8, 3-6, 4-5, .*, 8-9\.$"),
        ("case9", [], ["5-60"], r"No line 5-60 in case9: bus 60 does not exist"),
        ("case9", [], ["five-six"], r"Bad branch 'five-six': write FROM-TO"),
        (
            "case14",
            [],
            ["1-14"],
            r"No line 1-14 in case14; lines: .*; transformers: 4-7, 4-9, 5-6, 7-8, 7-9\.",
        ),
        ("case99", [], [], r"Unknown case 'case99'; known cases: case9, case14, case30, case118"),
        (
            "case9",
            [Injection(7, 5000, 0)],
            [],
            r"^The power flow of case9 with injection 7:5000:0 did not converge",
        ),
        (
            "case9",
            [],
            ["4-5", "5-6"],
            r"^The power flow of case9 with outage 4-5 and outage 5-6 cannot be solved: .* bus\(es\) 5 ",
        ),
        ("case9", [], ["1-4"], r"island bus\(es\) 2, 3, 4, 5, 6, 7, 8, 9 from every slack source"),
    ],
)
def test_bad_studies_fail_clearly(
    case: str, injections: list[Injection], outages: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_whatif(case, injections, outages)


def test_larger_cases_solve() -> None:
    for case, n in (("case30", 30), ("case118", 118)):
        result = run_whatif(case)
        assert len(result.buses) == n and result.losses_mw > 0
    assert_same(run_whatif("case30", [], ["1-2"]), by_hand("case30", [], [(1, 2)]))
