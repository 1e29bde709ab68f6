"""Whether a device's own clock can be trusted: the time a sample carries against the time it arrived.

A sample may arrive late (buffered behind a slow link, re-sent after an outage), so a device time
somewhat behind the arrival is old data. A day or more either way is not a delivery delay but the
device's clock (a reset to its epoch, a wrong time zone or year): calling that "telemetry 3257 d old"
sends the operator after the communication path when the device needs its clock set.
"""

from __future__ import annotations

import datetime as dt

CLOCK_TOLERANCE_S = 86_400.0  # beyond a day between device time and arrival: the clock, not a delay


def clock_offset_s(device_t: dt.datetime, received_at: dt.datetime) -> float | None:
    """Device time minus arrival time, s (+ = the device is ahead), when beyond the tolerance; else
    None (no clock problem seen)."""
    offset_s = (device_t - received_at).total_seconds()
    return offset_s if abs(offset_s) > CLOCK_TOLERANCE_S else None


def clock_problem(offset_s: float | None) -> str:
    """The operator's words for an offset from `clock_offset_s`: "device clock off by 3257 d
    (behind)"; "" without one."""
    if offset_s is None:
        return ""
    hours = round(abs(offset_s) / 3600)
    days, hours = divmod(hours, 24)
    size = f"{days} d {hours} h" if hours else f"{days} d"
    return f"device clock off by {size} ({'ahead' if offset_s > 0 else 'behind'})"
