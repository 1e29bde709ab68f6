"""Communication supervision of one link, free of any framework: it turns link events (up, down,
answered, no answer) and the passage of time into raise / clear decisions.

A link is in alarm when it has not answered for `timeout_s` — whether because the connection is
down or because the device stays silent. The first answer after that clears it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    NONE = "none"
    RAISE = "raise"
    CLEAR = "clear"


@dataclass
class CommWatch:
    timeout_s: float
    started_s: float
    last_answer_s: float | None = None
    link_up: bool = False
    down_since_s: float | None = None
    in_alarm: bool = False
    reason: str = ""

    def answered(self, now_s: float) -> Decision:
        self.last_answer_s = now_s
        self.link_up = True
        self.down_since_s = None
        if self.in_alarm:
            self.in_alarm = False
            return Decision.CLEAR
        return Decision.NONE

    def link_down(self, now_s: float) -> None:
        if self.link_up or self.down_since_s is None:
            self.down_since_s = now_s
        self.link_up = False

    def no_answer(self, now_s: float, detail: str = "") -> None:
        self.reason = detail

    def check(self, now_s: float) -> Decision:
        """Raise once the link has been silent for longer than the timeout."""
        if self.in_alarm:
            return Decision.NONE
        silent_since = self.last_answer_s if self.last_answer_s is not None else self.started_s
        if now_s - silent_since < self.timeout_s:
            return Decision.NONE
        self.in_alarm = True
        if not self.link_up and self.down_since_s is not None:
            self.reason = f"link down for {now_s - self.down_since_s:.0f} s"
        elif not self.link_up:
            self.reason = f"no connection within {self.timeout_s:g} s"
        else:
            self.reason = f"no answer within {self.timeout_s:g} s"
        return Decision.RAISE
