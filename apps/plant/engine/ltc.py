"""The substation's on-load tap changer (LTC), one per feeder: it holds the substation bus at its
voltage set point, whatever the transmission voltage does. This is where the EMS's control output
reaches the field: the cycle sends each DSO a substation voltage set point with its Q request, the
DMS writes it to the feeder's substation RTU (docs/protocols/dnp3-substation-rtu.md, AO 0), and the
tap changer's controller moves the taps until the bus is inside its band around it.

Modelled as utilities set a substation LTC controller: a 32-step changer (±10 %, 5/8 % a step)
between the transmission bus and the feeder's source, a 2 V band on the 120 V base centred on the
set point, a 30 s time delay before the first step once the voltage leaves the band and 10 s between
the steps that follow (sequential operation)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.dms.engine.dnp3.points import AO, SUBSTATION_RTU

TAP_STEP_PU = 0.00625  # 5/8 % of nominal per step
TAP_LIMIT = 16  # steps each way from neutral
BANDWIDTH_PU = 2.0 / 120.0  # the whole band: ±1 V on the 120 V base
FIRST_DELAY_S = 30.0
NEXT_DELAY_S = 10.0
_SET_POINT = SUBSTATION_RTU.named(AO, "v_set_pu")
assert _SET_POINT is not None
SET_POINT_RANGE_PU = (_SET_POINT.low, _SET_POINT.high)  # what the controller accepts: the RTU's AO 0


@dataclass
class TapChanger:
    v_set_pu: float
    tap: int = 0
    out_of_band_s: float = 0.0  # how long the bus has been outside the band (reset by each step)

    @property
    def ratio(self) -> float:
        """Feeder source voltage over transmission voltage at the present tap."""
        return 1.0 + self.tap * TAP_STEP_PU

    def settle(self, v_upstream_pu: float) -> None:
        """Start as a changer that has been regulating all along: the tap that puts the source nearest
        the set point (at start-up, so the first minutes are not spent tapping)."""
        wanted = round((self.v_set_pu / v_upstream_pu - 1.0) / TAP_STEP_PU)
        self.tap, self.out_of_band_s = max(-TAP_LIMIT, min(TAP_LIMIT, wanted)), 0.0

    def control(self, v_pu: float, dt_s: float) -> int:
        """The controller after one solve that read `v_pu` at the bus, `dt_s` after the last: one
        step toward the set point once the voltage has stayed out of band long enough; the tap."""
        error = v_pu - self.v_set_pu
        if abs(error) <= BANDWIDTH_PU / 2.0:
            self.out_of_band_s = 0.0
            return self.tap
        self.out_of_band_s += dt_s
        if self.out_of_band_s < FIRST_DELAY_S:
            return self.tap
        step = -1 if error > 0 else 1
        if -TAP_LIMIT <= self.tap + step <= TAP_LIMIT:
            self.tap += step
        # the next step waits the inter-step delay, not the whole first delay again
        self.out_of_band_s = FIRST_DELAY_S - NEXT_DELAY_S
        return self.tap


def check_set_point(v_pu: float) -> float:
    """A set point the controller takes, else ValueError in words."""
    low, high = SET_POINT_RANGE_PU
    if not low <= v_pu <= high:  # also refuses NaN
        raise ValueError(f"a substation voltage set point is {low}–{high} pu, not {v_pu}")
    return float(v_pu)
