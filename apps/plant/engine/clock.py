"""The plant's clock: simulated time as a function of wall time. Outside the demo it is real time
(ratio 1, starting now); the demo compresses a day so a newcomer sees it move (docs/operations.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEMO_RATIO = 30.0  # simulated seconds per wall-clock second: one day in 48 minutes
DEMO_START_HOUR = 6.0  # the demo's day starts at dawn: ten minutes later it is 11:00, PV near its peak
STEP_S = 10.0  # simulated seconds between two solves of the plant (issue #13 item 1)


@dataclass(frozen=True)
class PlantClock:
    """`sim_start` is the simulated time at wall-clock second `wall_start` (a POSIX timestamp)."""

    sim_start: dt.datetime
    wall_start: float
    ratio: float = 1.0

    def __post_init__(self) -> None:
        if not self.ratio > 0:
            raise ValueError(f"the clock ratio must be positive, not {self.ratio!r}")
        if self.sim_start.tzinfo is None:
            raise ValueError("the simulated start needs a time zone")

    @classmethod
    def real_time(cls, wall_now: float) -> PlantClock:
        return cls(dt.datetime.fromtimestamp(wall_now, dt.UTC), wall_now, 1.0)

    @classmethod
    def demo(cls, wall_now: float, ratio: float = DEMO_RATIO) -> PlantClock:
        """Today's dawn (UTC) at `wall_now`, then `ratio` times faster than the wall clock."""
        return cls.from_hour(wall_now, DEMO_START_HOUR, ratio)

    @classmethod
    def from_hour(cls, wall_now: float, hour: float, ratio: float = 1.0) -> PlantClock:
        """Today at `hour` (UTC, 0 ≤ hour < 24) at `wall_now`, then `ratio` times the wall clock."""
        if not 0.0 <= hour < 24.0:
            raise ValueError(f"the start hour is within 0…24, not {hour!r}")
        today = dt.datetime.fromtimestamp(wall_now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(today + dt.timedelta(hours=hour), wall_now, ratio)

    def sim_at(self, wall_s: float) -> dt.datetime:
        return self.sim_start + dt.timedelta(seconds=(wall_s - self.wall_start) * self.ratio)

    def wall_step_s(self, sim_step_s: float = STEP_S) -> float:
        """Wall-clock seconds between two plant steps of `sim_step_s` simulated seconds."""
        return sim_step_s / self.ratio


def hour_of_day(at: dt.datetime) -> float:
    return at.hour + at.minute / 60.0 + (at.second + at.microsecond / 1e6) / 3600.0
