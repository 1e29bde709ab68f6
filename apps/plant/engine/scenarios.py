"""A trainer's events in the plant (issue #13 item 4): each has a start (wall-clock time), a duration
and a target; while it is active its effect holds, and when it ends the plant goes back by itself.

* `cloud`: a cloud passage over chosen feeders — their PV gets `factor` of the sun (0 … 1);
* `load_step`: chosen feeders' loads times `factor` (0.1 … 3);
* `line_outage`: a transmission branch FROM-TO out of service;
* `der_ignores`: a DER answers its set points and does nothing;
* `der_trips`: a DER disconnects (produces nothing) until the event ends;
* `segment_lost`: the DNP3 DERs behind one network tier (lan, wan, fan, nan) go silent;
* `link_lost`: a DSO's EMS–DMS link, which the plant relays, goes silent.

Exclusive: two events of one kind on one target may not overlap. Everything is checked against the
plant's own layout, and a fault is explained in words."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from apps.standards.scenarios import (
    DEFAULT_FACTOR,
    DER_KINDS,
    FACTOR_RANGE,
    FEEDER_KINDS,
    KINDS,
    MAX_DURATION_S,
    targets,
)


class ScenarioError(ValueError):
    """A scenario the plant cannot run; the message says why."""


@dataclass(frozen=True)
class Scenario:
    id: int
    kind: str
    start_s: float  # POSIX time
    duration_s: float
    feeders: tuple[str, ...] = ()
    der: str = ""
    branch: str = ""
    factor: float = 1.0
    tier: str = ""
    link: str = ""

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def targets(self) -> frozenset[str]:
        return targets(self.kind, self.feeders, self.der, self.branch, self.tier, self.link)

    def active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s


@dataclass(frozen=True)
class Known:
    """What the plant has: the names a scenario may target."""

    feeders: frozenset[str]
    ders: frozenset[str]
    branches: frozenset[str]
    tiers: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()


def _finite(doc: dict[str, Any], key: str, default: float | None = None) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"'{key}' must be a number, not {value!r}")
    return float(value)


def _listed(name: str, known: frozenset[str], what: str) -> str:
    if name not in known:
        raise ScenarioError(f"the plant has no {what} {name!r} (here: {', '.join(sorted(known)) or 'none'})")
    return name


def _feeders(doc: dict[str, Any], known: Known) -> tuple[str, ...]:
    raw = doc.get("feeders")
    if not isinstance(raw, list) or not raw or not all(isinstance(f, str) for f in raw):
        raise ScenarioError("name the feeders it covers: a non-empty list of feeder names")
    unknown = sorted(set(raw) - known.feeders)
    if unknown:
        raise ScenarioError(f"the plant has no feeder {', '.join(unknown)}")
    return tuple(sorted(set(raw)))


def _target(kind: str, doc: dict[str, Any], known: Known) -> dict[str, Any]:
    """What the event acts on, checked against what the plant has."""
    if kind in FEEDER_KINDS:
        return {"feeders": _feeders(doc, known)}
    if kind in DER_KINDS:
        der = str(doc.get("der") or "")
        if der not in known.ders:
            raise ScenarioError(f"the plant has no DER named {der!r}")
        return {"der": der}
    if kind == "segment_lost":
        return {"tier": _listed(str(doc.get("tier") or ""), known.tiers, "DER behind the network tier")}
    if kind == "link_lost":
        return {"link": _listed(str(doc.get("link") or ""), known.links, "relayed EMS–DMS link")}
    branch = str(doc.get("branch") or "")
    if branch not in known.branches:
        raise ScenarioError(f"the transmission case has no branch {branch!r} (write FROM-TO, e.g. 4-5)")
    return {"branch": branch}


def _factor(kind: str, doc: dict[str, Any]) -> float:
    if kind not in FACTOR_RANGE:
        return 1.0
    low, high = FACTOR_RANGE[kind]
    factor = _finite(doc, "factor", DEFAULT_FACTOR[kind])
    if not low <= factor <= high:
        raise ScenarioError(f"a {kind} factor is within {low:g} … {high:g}, not {factor:g}")
    return factor


def parse(doc: Any, ident: int, known: Known, now_s: float) -> Scenario:
    """A scenario from its JSON form ({kind, start_s?, duration_s, feeders | der | branch | tier |
    link, factor?})."""
    if not isinstance(doc, dict):
        raise ScenarioError("a scenario is a JSON object")
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ScenarioError(f"unknown scenario kind {kind!r}; choose one of {', '.join(KINDS)}")
    duration_s = _finite(doc, "duration_s")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ScenarioError(f"the duration must be more than 0 s and at most 7 days, not {duration_s:g} s")
    start_s = _finite(doc, "start_s", now_s)
    return Scenario(ident, kind, start_s, duration_s, factor=_factor(kind, doc), **_target(kind, doc, known))


@dataclass
class Book:
    """The plant's scenarios: checked for overlap when added, applied each step."""

    scenarios: dict[int, Scenario] = field(default_factory=dict)

    def add(self, scenario: Scenario) -> None:
        for other in self.scenarios.values():
            clash = other.kind == scenario.kind and other.targets() & scenario.targets()
            if clash and other.start_s < scenario.end_s and scenario.start_s < other.end_s:
                raise ScenarioError(
                    f"it overlaps scenario {other.id} ({other.kind} on {', '.join(sorted(clash))}); "
                    "end that one first or choose another time"
                )
        self.scenarios[scenario.id] = scenario

    def end(self, ident: int, now_s: float) -> Scenario:
        found = self.scenarios.get(ident)
        if found is None:
            raise ScenarioError(f"there is no scenario {ident}")
        ended = Scenario(**{**found.__dict__, "duration_s": max(now_s - found.start_s, 0.0)})
        self.scenarios[ident] = ended
        return ended

    def active(self, now_s: float) -> list[Scenario]:
        return [s for s in self.scenarios.values() if s.active(now_s)]
