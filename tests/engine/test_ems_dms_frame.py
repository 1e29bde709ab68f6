"""Reactive power across the EMS–DMS link (DESIGN.md §7): the EMS's per-feeder injection, measured
from its base demand, against the wire's total Q drawn from transmission (+ = import)."""

from __future__ import annotations

import pytest

from apps.dms.engine.dnp3.ems_dms_frame import (
    ems_q_injected_kvar,
    ems_q_range_kvar,
    interface_total,
    per_feeder,
    wire_q_drawn_kvar,
)
from apps.ems.engine.dso_exchange import Outgoing


def test_an_injection_request_is_less_import_at_the_substation() -> None:
    # 4 feeders drawing 1,000 kvar each; the EMS asks each to inject 300 kvar more: the interface
    # then draws 4 × 700 kvar from the transmission system.
    assert wire_q_drawn_kvar(300.0, 1000.0, 4) == 2800.0
    assert per_feeder(2800.0, 4) == 700.0  # what the DMS dispatches on its modelled feeder
    # asked to absorb (negative injection): more import
    assert wire_q_drawn_kvar(-250.0, 1000.0, 1) == 1250.0


def test_answers_come_back_in_the_requests_frame() -> None:
    for q_injected in (-812.5, 0.0, 37.25, 650.0):
        wire = wire_q_drawn_kvar(q_injected, 420.0, 3)
        assert ems_q_injected_kvar(wire, 420.0, 3) == pytest.approx(q_injected, abs=1e-9)
    assert ems_q_injected_kvar(interface_total(700.0, 4), 1000.0, 4) == pytest.approx(300.0)


def test_a_drawn_range_swaps_ends_when_it_becomes_an_injection_range() -> None:
    # the feeder can draw 200 … 1,800 kvar; with a 1,000 kvar base it can inject −800 … +800 kvar
    low, high = ems_q_range_kvar(2 * 200.0, 2 * 1800.0, 1000.0, 2)
    assert (low, high) == (pytest.approx(-800.0), pytest.approx(800.0))


def test_an_outgoing_message_becomes_wire_totals() -> None:
    o = Outgoing("dso", 17, 100.0, q_base_kvar=500.0, count=3, v_pu=1.01, pv_curtailment_kw=10.0, dr_kw=2.5)
    r = o.request()
    wire = (r.interval_id, r.q_request_kvar, r.v_set_pu, r.pv_curtail_kw, r.dr_kw)
    assert wire == (17, 1200.0, 1.01, 30.0, 7.5)


def test_an_interface_has_at_least_one_feeder() -> None:
    with pytest.raises(ValueError, match="at least one feeder"):
        per_feeder(100.0, 0)
