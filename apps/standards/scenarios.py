"""The trainer's events, as the plant simulator's instructor API and the control room's trainer panel
both speak of them (apps/plant/engine/scenarios.py runs them; apps/training asks for them)."""

from __future__ import annotations

from collections.abc import Iterable

KINDS = ("cloud", "load_step", "line_outage", "der_ignores", "der_trips", "segment_lost", "link_lost")
LABELS = {
    "cloud": "Cloud passage",
    "load_step": "Load step",
    "line_outage": "Transmission line outage",
    "der_ignores": "DER ignores its set points",
    "der_trips": "DER trips",
    "segment_lost": "DER communication segment lost",
    "link_lost": "EMS–DMS link lost",
}
NETWORK_TIERS = ("lan", "wan", "fan", "nan")  # the field network's tiers (DESIGN §2, seed 000 Table 1)
FEEDER_KINDS, DER_KINDS = ("cloud", "load_step"), ("der_ignores", "der_trips")
MAX_DURATION_S = 7 * 24 * 3600.0
FACTOR_RANGE = {"cloud": (0.0, 1.0), "load_step": (0.1, 3.0)}  # cloud: share of the sun left
DEFAULT_FACTOR = {"cloud": 0.2, "load_step": 1.2}


def targets(
    kind: str, feeders: Iterable[str] = (), der: str = "", branch: str = "", tier: str = "", link: str = ""
) -> frozenset[str]:
    """What an event acts on, as keys: two events of one kind that share a key may not overlap in time
    (the control room refuses it before the plant would)."""
    if kind in FEEDER_KINDS:
        return frozenset(f"feeder:{f}" for f in feeders)
    if kind in DER_KINDS:
        return frozenset({f"der:{der}"})
    if kind == "segment_lost":
        return frozenset({f"tier:{tier}"})
    if kind == "link_lost":
        return frozenset({f"link:{link}"})
    return frozenset({f"branch:{branch}"})
