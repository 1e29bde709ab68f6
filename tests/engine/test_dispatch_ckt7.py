"""Dispatch on EPRI ckt7 at its nominal load (issue #15): one PV about every five customers, 60 % of
its peak available. Requests for 200 and 300 kvar more injection than now ended in "The dispatch LP
ended Not Set": HiGHS's warm-started dual simplex gave up on the 1e6 violation prices against
sensitivities of 1e-7, where a cold start with the objective scaled down solves it. Each request now
answers, lifts services out of the low-voltage violations the feeder starts with, and its achieved Q
is what OpenDSS finds at the set points."""

from __future__ import annotations

from functools import cache

import pytest

from apps.dms.engine import opendss_pf
from apps.dms.engine.dispatch import dispatch
from apps.dms.engine.dispatch_types import DerState, DispatchRequest
from apps.dms.engine.dss_import import read_network
from apps.dms.engine.network import DerInjection, Network, OperatingState
from tests.conftest import FEEDERS

SHARE_NOW = 0.6


@cache
def ckt7() -> Network:
    return read_network(FEEDERS / "epri_ckt7" / "Master_ckt7.dss", "ckt7")


@cache
def pv() -> tuple[DerState, ...]:
    """Every fifth customer (a load below 1 kV on a grounded bus): 1.5 × its load in PV, 2–10 kW, the
    inverter 1.1 × that."""
    net = ckt7()
    floating = net.ungrounded_buses()
    hosts = [ld for ld in net.loads if ld.kv < 1.0 and ld.bus not in floating][::5]
    units = []
    for ld in hosts:
        kw = min(max(1.5 * ld.p_kw, 2.0), 10.0)
        units.append(
            DerState(f"pv-{ld.name}", ld.bus, ld.phases[:1], "pv", SHARE_NOW * kw, 1.1 * kw, SHARE_NOW * kw)
        )
    return tuple(units)


def _now(ders: tuple[DerState, ...]) -> OperatingState:
    return OperatingState(1.0, {d.name: DerInjection(d.bus, d.phases, d.p_kw) for d in ders})


@pytest.mark.parametrize("more_kvar", [200.0, 300.0])
def test_a_request_for_more_vars_answers_and_lifts_the_low_services(more_kvar: float) -> None:
    net, ders = ckt7(), pv()
    assert len(ders) > 150
    q_now = opendss_pf.solve(net, _now(ders)).substation_q_kvar
    result = dispatch(net, DispatchRequest(q_now - more_kvar, net.source_pu), ders)
    assert result.violations_before and all(v.limit == "low" for v in result.violations_before)
    assert len(result.violations_after) < len(result.violations_before)
    by_name = {d.name: d for d in ders}
    inj = {
        s.name: DerInjection(by_name[s.name].bus, by_name[s.name].phases, s.p_limit_kw, s.q_kvar)
        for s in result.setpoints
    }
    check = opendss_pf.solve(net, OperatingState(1.0, inj, {}, net.source_pu))
    assert result.q_achieved_kvar == pytest.approx(check.substation_q_kvar, abs=1e-3)
    assert check.substation_q_kvar < q_now  # more injected than before
