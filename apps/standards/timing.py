"""The coordination cycle's timing (DESIGN §2, seed 000 §2.2): the interval every EMS → DMS → DER
exchange repeats on, and how old telemetry may be before it is not trusted."""

from __future__ import annotations

INTERVAL_S = 300.0  # the default interval: 5 minutes
STALE_INTERVALS = 2  # telemetry older than this many intervals is not trusted (issue 6)
INTERVALS_S = (300.0, 600.0, 900.0)  # the intervals an admin may choose: 5, 10 or 15 minutes
SHORTEST_TEST_INTERVAL_S = 10.0  # with CREST_CYCLE_ALLOW_SHORT (tests, demo): shorter intervals
