"""Alarm system performance over a period (ISA-18.2 §16, EEMUA 191 Table 35), free of Django: the
alarm rate per 10 minutes against the targets, the share of time in flood, the most frequent alarms
and their share, and the priority mix against the recommended one.

Targets (per operator console): about 1 alarm per 10 minutes is acceptable in steady operation
(ISA-18.2 Table 5: ~6 an hour), 2 is the most that is manageable, and more than 10 in 10 minutes
is a flood. ISA-18.2 recommends roughly 80 % low, 15 % medium and 5 % high priority, critical rare."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

WINDOW = dt.timedelta(minutes=10)
ACCEPTABLE_PER_10MIN = 1
MANAGEABLE_PER_10MIN = 2
FLOOD_ABOVE_PER_10MIN = 10
RECOMMENDED_MIX = {"critical": 0.0, "high": 5.0, "medium": 15.0, "low": 80.0}  # % (critical: rare)
TOP = 10


@dataclass(frozen=True)
class Activation:
    at: dt.datetime
    kind: str
    source: str
    priority: str


@dataclass(frozen=True)
class Frequent:
    kind: str
    source: str
    count: int
    share_pct: float


@dataclass(frozen=True)
class Performance:
    start: dt.datetime
    end: dt.datetime
    total: int
    per_window: list[int]  # alarms raised in each 10-minute window from `start`
    mean_per_10min: float
    peak_per_10min: int
    windows_acceptable: int  # windows at or below 1
    windows_manageable: int  # windows at 2 or below (acceptable ones included)
    flood_windows: int
    flood_pct: float  # share of the period's time in flood
    top: list[Frequent]
    top_share_pct: float  # what the top 10 make of all alarms
    mix_pct: dict[str, float]  # priority → share of all alarms


def performance(
    activations: Sequence[Activation], start: dt.datetime, end: dt.datetime, priorities: Sequence[str]
) -> Performance:
    """The figures for alarms raised in [start, end); windows of 10 minutes from `start`, the last
    one cut short at `end` counted as a whole window."""
    if not end > start:
        raise ValueError("the period must end after it starts")
    count = max(math.ceil((end - start) / WINDOW), 1)
    per_window = [0] * count
    inside = [a for a in activations if start <= a.at < end]
    for a in inside:
        per_window[int((a.at - start) / WINDOW)] += 1
    total = len(inside)
    floods = sum(1 for n in per_window if n > FLOOD_ABOVE_PER_10MIN)
    counted = Counter((a.kind, a.source) for a in inside)
    frequent = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:TOP]  # ties by name
    top = [Frequent(kind, source, n, _pct(n, total)) for (kind, source), n in frequent]
    by_priority = Counter(a.priority for a in inside)
    return Performance(
        start=start,
        end=end,
        total=total,
        per_window=per_window,
        mean_per_10min=total / count,
        peak_per_10min=max(per_window),
        windows_acceptable=sum(1 for n in per_window if n <= ACCEPTABLE_PER_10MIN),
        windows_manageable=sum(1 for n in per_window if n <= MANAGEABLE_PER_10MIN),
        flood_windows=floods,
        flood_pct=_pct(floods, count),
        top=top,
        top_share_pct=_pct(sum(f.count for f in top), total),
        mix_pct={p: _pct(by_priority.get(p, 0), total) for p in priorities},
    )


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0
