"""Where loads sit on their vminpu/vmaxpu step the power flow has two solutions (issue #15): EPRI ckt7
at 1.2 × load, three CVR loads on the step. OpenDSS settles on one, LinDist3Flow's refreshes from its
own linear solution on the other: 4.5 % apart at one node. Started at OpenDSS's solution, the
refreshes stay there (within 0.1 %): it is one of the model's solutions too, and validate_feeder's
row says so. On ckt5's stepped point (1.2 × load, PV absorbing) eight loads sit a hair from 0.95 pu:
unheld, the model's 0.01 % pushes five across and the refreshes walk to the other solution (0.124 %);
held on OpenDSS's side they settle 0.014 % from it, each load on its side or within the model's
accuracy of its step. Then every sweep point of both feeders meets the 0.1 % target converged."""

from __future__ import annotations

import pytest

from apps.dms.engine import lindist3flow, opendss_pf, studies
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import Network
from apps.dms.engine.powerflow_types import voltage_error_pct
from tests.conftest import FEEDERS

POINT = "load 1.2, PV 0%"
CKT5_POINT = "load 1.2, PV 100% at PF 0.9 absorbing"


@pytest.fixture(scope="module")
def ckt7() -> Network:
    return read_network(FEEDERS / "epri_ckt7" / "Master_ckt7.dss", "ckt7")


@on_dss_thread
def test_opendss_s_solution_at_a_cvr_step_is_one_of_lindist3flow_s(ckt7: Network) -> None:
    (state,) = [s for label, s in studies.sweep_states(ckt7) if label == POINT]
    model = lindist3flow.build(ckt7, opendss_pf.solve(ckt7))
    reference = opendss_pf.solve(ckt7, state)
    cold = model.solve(state, iterations=50)
    assert max(voltage_error_pct(cold, reference).values()) > 1.0  # the other solution
    assert len(studies.law_step_loads(ckt7, cold, reference)) == 3
    warm = model.solve(state, iterations=100, start=reference)
    assert warm.converged and max(voltage_error_pct(warm, reference).values()) <= 0.1
    assert not studies.law_step_loads(ckt7, warm, reference)  # every load on OpenDSS's side
    assert studies.shared_solution(model, reference) <= 0.1


@pytest.fixture(scope="module")
def ckt5() -> Network:
    return read_network(FEEDERS / "epri_ckt5" / "Master_ckt5.dss", "ckt5")


@on_dss_thread
def test_ckt5_s_stepped_point_is_one_of_lindist3flow_s_with_loads_held_on_their_side(ckt5: Network) -> None:
    (state,) = [s for label, s in studies.sweep_states(ckt5) if label == CKT5_POINT]
    model = lindist3flow.build(ckt5, opendss_pf.solve(ckt5))
    reference = opendss_pf.solve(ckt5, state)
    unheld = model.solve(state, iterations=100, start=reference)
    assert max(voltage_error_pct(unheld, reference).values()) > 0.1  # walked to the other solution
    assert len(studies.law_step_loads(ckt5, unheld, reference)) == 8
    held = model.solve(state, iterations=100, start=reference, hold_sides=True)
    assert held.converged and max(voltage_error_pct(held, reference).values()) <= 0.02
    crossed = studies.law_step_loads(ckt5, held, reference)
    assert crossed  # a hair across their step on the model's side, but within the model's accuracy:
    assert not studies.law_step_loads(ckt5, held, reference, studies.MODEL_BAND_PCT)
    assert studies.shared_solution(model, reference) <= 0.1


@pytest.mark.parametrize("name", ["ckt5", "ckt7"])
@on_dss_thread
def test_every_sweep_point_meets_the_target_converged(name: str, request: pytest.FixtureRequest) -> None:
    """Issue #15's sweep target (max ≤ 0.1 % with the refresh option), `validate_feeder --iterations 50`;
    on a point with loads on a step, against the model's solution on OpenDSS's side of it."""
    rows = studies.validate(request.getfixturevalue(name), iterations=50)
    for row in rows[1:]:
        error = row.from_reference_max_v_err_pct if row.law_step_loads else row.max_v_err_pct
        assert error is not None and error <= 0.1, row
