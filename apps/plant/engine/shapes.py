"""Daily load and PV shapes, as multipliers of the nameplate (loads) and of the array rating (PV).

Load: a residential curve (morning and evening peaks) and a commercial one (a working-day plateau),
mixed per feeder; their shapes follow the typical daily profiles used for distribution studies (low
at night, peaks near 08:00 and 19:00 for homes, 09:00–17:00 for business). PV: a clear-sky bell
between sunrise and sunset, and a cloudy day where fast clouds pass (each one 1–6 minutes of
simulated time, 30–80 % of the sun blocked), drawn from a seed so a day replays the same."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache

SUNRISE_H, SUNSET_H = 6.0, 18.0
SKY_CLEAR, SKY_CLOUDY = "clear", "cloudy"
SKIES = (SKY_CLEAR, SKY_CLOUDY)
CLOUDS_PER_HOUR = 8.0  # passing clouds on the cloudy day


def _bump(hour: float, centre: float, width: float) -> float:
    """A daily-periodic Gaussian bump (hours wrap around midnight)."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width) ** 2)


def residential(hour: float) -> float:
    """Share of the nameplate drawn by homes: 0.4 at night, peaks of ~0.75 at 08:00 and 1.0 at 19:00."""
    return 0.4 + 0.35 * _bump(hour, 8.0, 1.5) + 0.6 * _bump(hour, 19.0, 2.2)


def commercial(hour: float) -> float:
    """Share drawn by shops and offices: 0.35 at night, ~1.0 on a plateau from 09:00 to 17:00."""
    rise = 1.0 / (1.0 + math.exp(-(hour - 8.0) * 2.0))
    fall = 1.0 / (1.0 + math.exp((hour - 18.0) * 2.0))
    return 0.35 + 0.65 * rise * fall


def load_level(hour: float, commercial_share: float = 0.3) -> float:
    """The feeder's load multiplier: its mix of the two curves."""
    if not 0.0 <= commercial_share <= 1.0:
        raise ValueError(f"the commercial share must be within 0…1, not {commercial_share!r}")
    return (1.0 - commercial_share) * residential(hour) + commercial_share * commercial(hour)


def clear_sky(hour: float) -> float:
    """PV output per unit of the array rating on a clear day: a bell from sunrise to sunset."""
    if not SUNRISE_H < hour < SUNSET_H:
        return 0.0
    return float(math.sin(math.pi * (hour - SUNRISE_H) / (SUNSET_H - SUNRISE_H)) ** 1.3)


@dataclass(frozen=True)
class Cloud:
    start_s: float  # seconds of the simulated day
    duration_s: float
    depth: float  # share of the sun it blocks at its middle


@cache
def clouds(seed: int) -> tuple[Cloud, ...]:
    """The day's passing clouds, the same for one seed."""
    rng = random.Random(seed)
    out, t = [], SUNRISE_H * 3600.0
    while t < SUNSET_H * 3600.0:
        t += rng.expovariate(CLOUDS_PER_HOUR / 3600.0)
        out.append(Cloud(t, rng.uniform(60.0, 360.0), rng.uniform(0.3, 0.8)))
    return tuple(out)


def cloud_cover(seconds_of_day: float, seed: int = 1) -> float:
    """Share of the sun the passing clouds block now (0 clear … 1 dark); a cloud ramps in and out."""
    blocked = 0.0
    for c in clouds(seed):
        into = seconds_of_day - c.start_s
        if 0.0 <= into <= c.duration_s:
            blocked = max(blocked, c.depth * math.sin(math.pi * into / c.duration_s))
    return blocked


def irradiance(seconds_of_day: float, sky: str = SKY_CLEAR, seed: int = 1) -> float:
    """PV output per unit of the array rating at this moment of the day under `sky`."""
    if sky not in SKIES:
        raise ValueError(f"unknown sky {sky!r}; choose {' or '.join(SKIES)}")
    sun = clear_sky(seconds_of_day / 3600.0)
    return sun if sky == SKY_CLEAR else sun * (1.0 - cloud_cover(seconds_of_day, seed))
