"""The overview's TSO–DSO traffic light and range bar (apps/cycle/engine/overview.py), by hand."""

from __future__ import annotations

import pytest

from apps.cycle.engine.overview import DsoState, range_bar, traffic_light

HEALTHY = DsoState(False, False, True, False, 0.0, 0)


@pytest.mark.parametrize(
    ("changes", "light"),
    [
        ({}, ("green", "delivered within its range")),
        ({"shortfall_kvar": 0.4}, ("green", "delivered within its range")),  # rounding, not short
        ({"shortfall_kvar": 120.0}, ("amber", "120 kvar short")),
        ({"violations_left": 3}, ("amber", "3 voltage violations left")),
        ({"in_fallback": True, "shortfall_kvar": 50.0}, ("amber", "in fallback")),
        ({"dms_healthy": False}, ("red", "the DMS could not dispatch")),
        ({"dms_healthy": None}, ("red", "no answer from the DMS to the last request")),
        ({"link_down": True, "in_fallback": True}, ("red", "EMS–DMS link down")),
        ({"dms_silent": True}, ("red", "DMS not heard from")),
    ],
)
def test_the_traffic_light(changes: dict[str, object], light: tuple[str, str]) -> None:
    state = DsoState(**{**HEALTHY.__dict__, **changes})  # type: ignore[arg-type]
    assert traffic_light(state) == light


def test_the_range_bar_places_range_request_and_zero_on_one_scale() -> None:
    # range −100 … 300, request 200, achieved 150: span 400 → 440 from −120
    bar = range_bar(-100.0, 300.0, 200.0, 150.0)
    assert (bar.low_pct, bar.width_pct) == pytest.approx((100 * 20 / 440, 100 * 400 / 440), abs=0.01)
    assert bar.request_pct == pytest.approx(100 * 320 / 440, abs=0.01)
    assert bar.achieved_pct == pytest.approx(100 * 270 / 440, abs=0.01)
    assert bar.zero_pct == pytest.approx(100 * 120 / 440, abs=0.01)
    flat = range_bar(0.0, 0.0, 0.0, None)  # no flexibility offered: a point, not a division by zero
    assert flat.width_pct == 0.0 and flat.achieved_pct is None
