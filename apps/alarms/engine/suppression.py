"""Suppression by design (ISA-18.2 §12, IEC 62682): when every device behind one communication path
has gone silent, the path is what failed — one alarm for the segment, and the devices' own
communication alarms are suppressed (kept, marked, off the operator's list) while it lasts.

A segment here is the DERs one path reaches: DNP3 DERs at one network address (a field router, a
gateway, a radio base station), 2030.5 devices behind one aggregator. A segment of one device is
just that device. Free of Django: the gateway feeds it which members are in alarm."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MIN_MEMBERS = 2  # one device alone is its own alarm
GRACE_S = 10.0  # how long a silent member waits for its segment to be seen down before it alarms alone


def segments_down(in_alarm: Mapping[str, Sequence[bool]]) -> set[str]:
    """The segments all of whose members (two or more) are in alarm."""
    return {seg for seg, members in in_alarm.items() if len(members) >= MIN_MEMBERS and all(members)}


@dataclass
class Holding:
    """Members in alarm whose own alarm waits (up to GRACE_S) to learn whether their segment is down."""

    since_s: dict[str, float] = field(default_factory=dict)

    def hold(self, key: str, now_s: float) -> None:
        self.since_s.setdefault(key, now_s)

    def release(self, key: str) -> None:
        self.since_s.pop(key, None)

    def due(
        self, now_s: float, down: set[str], segment_of: Mapping[str, str], sizes: Mapping[str, int]
    ) -> tuple[list[str], list[str]]:
        """(members to alarm as suppressed — their segment is down, members to alarm on their own —
        alone in their segment, or their grace passed with the segment up); both leave the holding."""
        suppressed = [k for k in self.since_s if segment_of.get(k, "") in down]
        lone = {k for k in self.since_s if sizes.get(segment_of.get(k, ""), 0) < MIN_MEMBERS}
        alone = [
            k for k, t in self.since_s.items() if k not in suppressed and (k in lone or now_s - t >= GRACE_S)
        ]
        for key in suppressed + alone:
            del self.since_s[key]
        return suppressed, alone


@dataclass(frozen=True)
class Verdicts:
    """What one supervision round decided; the caller raises, clears and (un)suppresses."""

    went_down: list[str]  # segments now wholly silent: one alarm each, their members' suppressed
    came_up: list[str]  # segments answering again: their alarm clears
    stragglers: list[str]  # segments back GRACE_S ago: members still silent become the operator's
    suppressed: list[str]  # members to alarm suppressed (their segment is down)
    alone: list[str]  # members to alarm on their own


@dataclass
class Segments:
    """Suppression by design over rounds: which segments are down, which members wait for the
    verdict, which segments came back and when. Shared by the DNP3 gateway and the 2030.5 server."""

    holding: Holding = field(default_factory=Holding)
    down: set[str] = field(default_factory=set)
    up_since: dict[str, float] = field(default_factory=dict)

    def step(
        self,
        now_s: float,
        in_alarm: Mapping[str, bool],
        segment_of: Mapping[str, str],
        silent_now: Iterable[str],
    ) -> Verdicts:
        """`in_alarm`: each member, silent or not; `silent_now`: members newly found silent (their
        own alarm not raised yet). Members that answer again leave the holding."""
        for key in silent_now:
            self.holding.hold(key, now_s)
        for key, silent in in_alarm.items():
            if not silent:
                self.holding.release(key)
        members: dict[str, list[bool]] = {}
        for key, silent in in_alarm.items():
            members.setdefault(segment_of[key], []).append(silent)
        down = segments_down(members)
        went_down, came_up = sorted(down - self.down), sorted(self.down - down)
        self.up_since.update(dict.fromkeys(came_up, now_s))
        self.down = down
        stragglers = []
        for segment, since in list(self.up_since.items()):
            if segment in down or now_s - since >= GRACE_S:
                del self.up_since[segment]
                if segment not in down:
                    stragglers.append(segment)
        sizes = {segment: len(flags) for segment, flags in members.items()}
        suppressed, alone = self.holding.due(now_s, down, segment_of, sizes)
        return Verdicts(went_down, came_up, stragglers, suppressed, alone)
