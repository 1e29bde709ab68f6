"""Load allocation (issue #12 item 4): the DMS scales its feeder's loads so that its power flow draws
what the substation meter measured. The "meter" here is OpenDSS solving the original IEEE 13 file
with every load changed by known factors, a PV unit at a known output and the source at a known
voltage; allocating on the stored model must find those factors again."""

from __future__ import annotations

import numpy as np
import pytest

from apps.dms.engine import opendss_pf
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.load_allocation import HeadMeasurement, allocate, scaled_loads
from apps.dms.engine.network import DerInjection, Network, OperatingState
from tests.conftest import FEEDERS

MASTER = FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"
PV = {"pv-675": DerInjection("675", (1, 2, 3), 300.0, 60.0)}  # kW, kvar injected


@on_dss_thread
def metered(net: Network, k_p: float, k_q: float, v_pu: float) -> HeadMeasurement:
    """The original file's circuit (left active by the import, taps where its regulators put them)
    with every load's kW × k_p and kvar × k_q, the PV unit and the source at `v_pu`: what a meter at
    the feeder head would read."""
    import opendssdirect as dss

    dss.Text.Command("set controlmode=off")
    for name in dss.Loads.AllNames():
        dss.Loads.Name(name)
        kw, kvar = dss.Loads.kW(), dss.Loads.kvar()
        dss.Loads.kW(kw * k_p)
        dss.Loads.kvar(kvar * k_q)
    dss.Text.Command("New Generator.pv675 bus1=675.1.2.3 phases=3 kv=4.16 kW=300 kvar=60 model=1")
    dss.Text.Command(f"Vsource.source.pu={v_pu}")
    dss.Text.Command("set tolerance=1e-9")
    dss.Solution.Solve()
    assert dss.Solution.Converged()
    dss.Circuit.SetActiveElement("Vsource.source")
    powers = -np.array(dss.CktElement.Powers(), dtype=float)[:6]
    return HeadMeasurement(float(powers[0::2].sum()), float(powers[1::2].sum()), v_pu)


@pytest.mark.parametrize(("k_p", "k_q"), [(1.25, 0.8), (0.6, 0.6), (1.0, 1.4)])
def test_allocation_finds_the_load_factors_behind_a_head_measurement(k_p: float, k_q: float) -> None:
    net = read_network(MASTER, "ieee13")
    measured = metered(net, k_p, k_q, 1.02)

    found = allocate(net, PV, measured)

    assert found.matched and found.note == "" and found.rounds <= 5
    assert found.k_p == pytest.approx(k_p, rel=2e-3)  # the meter's P within 0.1 %, losses included
    assert found.k_q == pytest.approx(k_q, rel=5e-3)
    # The allocated feeder draws the metered power, and its own power flow balances.
    check = opendss_pf.solve(scaled_loads(net, found.k_p, found.k_q), OperatingState(1.0, PV, {}, 1.02))
    assert check.substation_p_kw == pytest.approx(measured.p_kw, rel=1e-3)
    assert check.substation_q_kvar == pytest.approx(measured.q_kvar, rel=1e-3)
    assert check.substation_p_kw == pytest.approx(check.demand_p_kw + check.losses_kw, abs=1e-3)


def test_a_measurement_the_loads_cannot_explain_is_not_forced() -> None:
    """A meter reading far more export than the PV could give: the load factor stops at zero and the
    allocation says it did not match, rather than inventing negative load."""
    net = read_network(MASTER, "ieee13")
    found = allocate(net, PV, HeadMeasurement(-2000.0, 500.0, 1.0))
    assert not found.matched and found.k_p == 0.0
    assert "cannot draw the measured P" in found.note


@pytest.mark.parametrize(
    ("measured", "words"),
    [
        (HeadMeasurement(float("nan"), 0.0, 1.0), "finite"),
        (HeadMeasurement(1000.0, 100.0, 0.0), "not a measurement of a feeder in service"),
    ],
)
def test_a_bad_measurement_is_refused_in_words(measured: HeadMeasurement, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        allocate(read_network(MASTER, "ieee13"), PV, measured)
