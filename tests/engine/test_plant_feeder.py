"""The plant's feeder (issue #13): what it publishes is what an independent OpenDSS solve of the same
state gives — the original IEEE 13 file, each load set to the kW and kvar the plant applied, each
DER as a generator at the P and Q the plant says it delivered, the source at the same voltage — and
its inverters follow their set points within their ratings."""

from __future__ import annotations

import numpy as np
import pytest

from apps.dms.engine.dnp3.points import DERLimits
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import Network
from apps.plant.engine.feeder import Conditions, DerCommand, FeederPlant, FeederReading, PlantDER, der_output
from tests.conftest import FEEDERS

MASTER = FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"
LIMITS = DERLimits(p_max_kw=200.0, q_inj_max_kvar=88.0, q_abs_max_kvar=88.0, s_max_kva=220.0)
DERS = [
    PlantDER("pv-675", "675", (1, 2, 3), 200.0, LIMITS),
    PlantDER("pv-611", "611", (3,), 50.0, DERLimits(50.0, 22.0, 22.0, 55.0)),
    PlantDER("pv-652", "652", (1,), 30.0, DERLimits(30.0, 13.2, 13.2, 33.0)),
]


@on_dss_thread
def independent(reading: FeederReading, v_source_pu: float) -> tuple[float, float, dict[str, float]]:
    """The original file's circuit (left active by the import, regulator taps where its controls put
    them, controls off) at the plant's state: head P, Q and the DER buses' mean voltage (pu)."""
    import opendssdirect as dss

    dss.Text.Command("set controlmode=off")
    for name, (p_kw, q_kvar) in reading.loads.items():
        dss.Loads.Name(name)
        dss.Loads.kW(p_kw)
        dss.Loads.kvar(q_kvar)
    for der in DERS:
        out = reading.ders[der.name]
        nodes = ".".join([der.bus, *map(str, der.phases)])
        kv = 4.16 if len(der.phases) == 3 else 2.4018
        dss.Text.Command(
            f"New Generator.{der.name} bus1={nodes} phases={len(der.phases)} kv={kv} kW={out.p_kw} "
            f"kvar={out.q_kvar} model=1 vminpu=0.5 vmaxpu=2.0"
        )
    dss.Text.Command(f"Vsource.source.pu={v_source_pu}")
    dss.Text.Command("set tolerance=1e-9")
    dss.Solution.Solve()
    assert dss.Solution.Converged()
    dss.Circuit.SetActiveElement("Vsource.source")
    powers = -np.array(dss.CktElement.Powers(), dtype=float)[:6]
    mags = dict(zip([n.lower() for n in dss.Circuit.AllNodeNames()], dss.Circuit.AllBusMagPu(), strict=True))
    volts = {d.name: float(np.mean([mags[f"{d.bus}.{p}"] for p in d.phases])) for d in DERS}
    return float(powers[0::2].sum()), float(powers[1::2].sum()), volts


@pytest.fixture
def net() -> Network:  # fresh each test: the independent solve edits the circuit the import left
    return read_network(MASTER, "ieee13")


@pytest.mark.parametrize(
    ("hour", "irradiance", "load_factor", "v_source_pu"),
    [(12.5, 1.0, 1.0, 1.0), (19.0, 0.0, 1.1, 1.02), (10.0, 0.4, 0.9, 0.99)],
)
def test_the_published_head_power_is_an_independent_opendss_solve_of_the_same_state(
    net: Network, hour: float, irradiance: float, load_factor: float, v_source_pu: float
) -> None:
    plant = FeederPlant(net, DERS)
    plant.command("pv-675", DerCommand(p_limit_kw=150.0, q_set_kvar=60.0))
    plant.command("pv-611", DerCommand(q_set_kvar=-20.0))
    reading = plant.step(Conditions(hour, irradiance, load_factor, v_source_pu))
    p_kw, q_kvar, volts = independent(reading, v_source_pu)

    assert reading.converged
    assert reading.p_kw == pytest.approx(p_kw, rel=1e-5)  # the same circuit: agreement to solver tolerance
    assert reading.q_kvar == pytest.approx(q_kvar, rel=1e-5)
    for name, v_pu in volts.items():
        assert reading.ders[name].v_pu == pytest.approx(v_pu, abs=1e-6)
    assert reading.v_pu == pytest.approx(v_source_pu, abs=1e-3)  # the stiff source holds its voltage


def test_a_passing_cloud_raises_the_feeder_heads_draw_by_what_the_pv_lost(net: Network) -> None:
    plant = FeederPlant(net, DERS)
    sunny = plant.step(Conditions(12.0, 1.0))
    cloud = plant.step(Conditions(12.0, 0.3))
    lost_kw = sum(sunny.ders[d].p_kw - cloud.ders[d].p_kw for d in sunny.ders)
    assert lost_kw == pytest.approx(0.7 * 280.0, rel=1e-9)  # every array at 30 % of its rating
    assert cloud.p_kw - sunny.p_kw == pytest.approx(lost_kw, rel=0.05)  # losses and voltage-dependent loads


def test_the_evening_peak_draws_more_than_the_night(net: Network) -> None:
    plant = FeederPlant(net, [])
    night, evening = plant.step(Conditions(3.0, 0.0)), plant.step(Conditions(19.0, 0.0))
    assert evening.demand_p_kw > 1.5 * night.demand_p_kw and evening.p_kw > 1.5 * night.p_kw


def test_an_inverter_asked_for_more_than_its_rating_gives_its_limit() -> None:
    assert der_output(LIMITS, 100.0, DerCommand(q_set_kvar=500.0)) == (100.0, 88.0)
    assert der_output(LIMITS, 100.0, DerCommand(q_set_kvar=-500.0)) == (100.0, -88.0)
    assert der_output(LIMITS, 500.0, DerCommand(p_limit_kw=900.0)) == (200.0, 0.0)


def test_an_inverter_curtails_to_its_limit_and_keeps_q_inside_its_apparent_power() -> None:
    assert der_output(LIMITS, 150.0, DerCommand(p_limit_kw=80.0, q_set_kvar=30.0)) == (80.0, 30.0)
    p_kw, q_kvar = der_output(DERLimits(200.0, 150.0, 150.0, 210.0), 200.0, DerCommand(q_set_kvar=150.0))
    assert q_kvar == 150.0 and p_kw == pytest.approx((210.0**2 - 150.0**2) ** 0.5)  # Q priority
    assert der_output(LIMITS, 150.0, DerCommand(q_set_kvar=30.0, connected=False)) == (0.0, 0.0)


def test_a_command_for_a_der_the_feeder_does_not_have_is_refused(net: Network) -> None:
    plant = FeederPlant(net, DERS)
    with pytest.raises(KeyError, match="feeder ieee13 has no DER named 'pv-999'"):
        plant.command("pv-999", DerCommand(q_set_kvar=1.0))
    assert all(c == DerCommand() for c in plant.commands.values())
