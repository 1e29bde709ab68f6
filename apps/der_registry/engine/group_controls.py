"""A group control: one DERControl for every member of a DER group (an aggregator's fleet, a
microgrid), served to each member's 2030.5 device in the group's own DERProgram — its group
(FunctionSetAssignments) assignment, CSIP §5.2. What an operator may ask of a whole group, checked
here before anything is stored, and the 2030.5 event status it has at a given time.

A group control carries modes that mean the same for every member whatever its size: connect,
energize, a P limit and a fixed Q in percent of each device's own settings (setMaxW, setMaxVar),
a ramp time, and a randomized start and duration so that a thousand devices do not step at once.
A fixed power factor (opModFixedPF, signed by the EEI convention) means the same for every member
too; the action refuses one a member's reactive rating cannot hold at its rating. One mode is
absolute: a P target in kW for each device (opModTargetW), for fleets of alike devices; the action
refuses it when a member is rated below it."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from apps.der_registry.engine.ieee1547 import Issue

MAX_RANDOMIZE_S = 3600  # 2030.5 OneHourRangeType
MAX_RAMP_S = 655.35  # rampTms: UInt16, hundredths of a second
MAX_DURATION_S = 7 * 86400  # longer than a week is a setting (the default mode), not an event
MAX_LEAD_S = 7 * 86400  # how far ahead a control may be scheduled
MAX_DESCRIPTION = 32  # 2030.5 String32
MIN_PRIMACY, MAX_PRIMACY = 0, 255  # DERProgram.primacy: UInt8, lower takes precedence
# The primacy of each DER's own program, which carries the dispatch's set points. A group program
# with a lower number takes precedence over the dispatch where their modes overlap (a P limit).
DEVICE_PROGRAM_PRIMACY = 10
DEFAULT_GROUP_PRIMACY = 20
# 2030.5 EventStatus.currentStatus
SCHEDULED, ACTIVE, CANCELLED, CANCELLED_RANDOMIZED, SUPERSEDED = 0, 1, 2, 3, 4
MODES = ("connect", "energize", "max_lim_pct", "fixed_var_pct", "fixed_pf", "target_w_kw")
# Modes that set the same quantity: a newer control setting one of them takes over from an older
# control setting another (a power factor after a fixed Q), as a device holds one reactive mode.
SAME_QUANTITY = {"fixed_var_pct": "reactive", "fixed_pf": "reactive"}
MAX_TARGET_KW = 10_000.0  # a P target per device: no DER on a distribution feeder is larger


@dataclass(frozen=True)
class GroupControlRequest:
    start_at: dt.datetime
    duration_s: int
    randomize_start_s: int = 0
    randomize_duration_s: int = 0
    connect: bool | None = None  # opModConnect
    energize: bool | None = None  # opModEnergize
    max_lim_pct: float | None = None  # opModMaxLimW, % of each device's setMaxW
    fixed_var_pct: float | None = None  # opModFixedVar, % of setMaxVar; + injects vars
    ramp_s: float | None = None  # rampTms
    description: str = ""
    target_w_kw: float | None = None  # opModTargetW, kW for each device
    fixed_pf: float | None = None  # opModFixedPF, signed (EEI: negative while absorbing vars)

    @property
    def words(self) -> str:
        """The modes it sets, in words ("disconnect, P ≤ 50 %")."""
        words = [
            "" if self.connect is None else ("connect" if self.connect else "disconnect"),
            "" if self.energize is None else ("energize" if self.energize else "cease to energize"),
            "" if self.max_lim_pct is None else f"P ≤ {self.max_lim_pct:g} %",
            "" if self.target_w_kw is None else f"P → {self.target_w_kw:g} kW",
            "" if self.fixed_var_pct is None else f"Q {self.fixed_var_pct:+g} %",
            "" if self.fixed_pf is None else f"PF {self.fixed_pf:g}",
        ]
        return ", ".join(w for w in words if w)

    @property
    def end_at(self) -> dt.datetime:
        return self.start_at + dt.timedelta(seconds=self.duration_s)

    @property
    def modes(self) -> frozenset[str]:
        return frozenset(m for m in MODES if getattr(self, m) is not None)


def supersedes(new: GroupControlRequest, old: GroupControlRequest) -> bool:
    """A newer control of the same group supersedes an older one when their intervals overlap and
    they set at least one mode in common (2030.5 §10.10.3: the later creationTime wins); one that
    sets other modes runs beside it."""
    overlap = new.start_at < old.end_at and old.start_at < new.end_at

    def quantities(req: GroupControlRequest) -> set[str]:
        return {SAME_QUANTITY.get(m, m) for m in req.modes}

    return overlap and bool(quantities(new) & quantities(old))


def event_status(
    req: GroupControlRequest, cancelled: bool, now: dt.datetime, superseded: bool = False
) -> int:
    """EventStatus.currentStatus as served: scheduled until its start, then active (also once its
    interval is over: the standard has no "ended"), superseded once a newer control of its group
    takes over its modes, cancelled once an operator cancels it — "cancelled with randomization"
    when the devices should spread their return."""
    if cancelled:
        return CANCELLED_RANDOMIZED if req.randomize_start_s or req.randomize_duration_s else CANCELLED
    if superseded:
        return SUPERSEDED
    return SCHEDULED if now < req.start_at else ACTIVE


def problem_with_primacy(value: object) -> str:
    number = _int(value)
    if number is None or not MIN_PRIMACY <= number <= MAX_PRIMACY:
        return (
            f"The primacy is a whole number from {MIN_PRIMACY} to {MAX_PRIMACY}; lower takes precedence "
            f"(each DER's own set points are at {DEVICE_PROGRAM_PRIMACY})."
        )
    return ""


def check(values: Mapping[str, object], now: dt.datetime) -> tuple[GroupControlRequest | None, list[Issue]]:
    """The control an operator asked for, or the reasons it cannot be issued (field by field)."""
    issues: list[Issue] = []
    start = _start(values.get("start_at"), now, issues)
    duration = _bounded_int(values, "duration_s", 1, MAX_DURATION_S, "seconds", issues, required=True)
    rand_start = _bounded_int(values, "randomize_start_s", 0, MAX_RANDOMIZE_S, "seconds", issues)
    rand_duration = _bounded_int(values, "randomize_duration_s", 0, MAX_RANDOMIZE_S, "seconds", issues)
    connect, energize = _flag(values, "connect", issues), _flag(values, "energize", issues)
    max_lim = _bounded_float(values, "max_lim_pct", 0.0, 100.0, issues)
    fixed_var = _bounded_float(values, "fixed_var_pct", -100.0, 100.0, issues)
    ramp = _bounded_float(values, "ramp_s", 0.0, MAX_RAMP_S, issues)
    target_w = _bounded_float(values, "target_w_kw", 0.0, MAX_TARGET_KW, issues)
    pf = _power_factor(values, issues)
    if fixed_var is not None and pf is not None:
        issues.append(
            Issue("fixed_pf", "A device holds one reactive mode: a fixed Q or a power factor, not both.")
        )
    description = str(values.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        issues.append(Issue("description", f"Keep the description to {MAX_DESCRIPTION} characters."))
    if not issues and all(v is None for v in (connect, energize, max_lim, fixed_var, target_w, pf)):
        issues.append(
            Issue(
                "__all__",
                "Say what the group should do: connect or disconnect, energize or cease to energize, "
                "a P limit, a P target, a fixed Q or a power factor.",
            )
        )
    if start is not None and duration is not None and start + dt.timedelta(seconds=duration) <= now:
        issues.append(Issue("start_at", "This control would already be over; start it later."))
    if issues or start is None or duration is None:
        return None, issues
    request = GroupControlRequest(
        start,
        duration,
        rand_start or 0,
        rand_duration or 0,
        connect,
        energize,
        max_lim,
        fixed_var,
        ramp,
        description,
        target_w,
        pf,
    )
    return (request if description else replace(request, description=request.words[:MAX_DESCRIPTION])), []


def _power_factor(values: Mapping[str, object], issues: list[Issue]) -> float | None:
    """A signed power factor (EEI: negative while absorbing vars), 0 < |pf| ≤ 1."""
    pf = _bounded_float(values, "fixed_pf", -1.0, 1.0, issues)
    if pf == 0.0:
        issues.append(Issue("fixed_pf", "A power factor of 0 is no power factor: give e.g. 0.95 or -0.95."))
        return None
    return pf


def _start(value: object, now: dt.datetime, issues: list[Issue]) -> dt.datetime | None:
    if value in (None, ""):
        return now
    if isinstance(value, dt.datetime):
        start = value
    else:
        try:
            start = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            issues.append(Issue("start_at", "Give the start as a date and time, e.g. 2026-12-07T14:30:00Z."))
            return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)  # the control room runs on UTC
    if start > now + dt.timedelta(seconds=MAX_LEAD_S):
        issues.append(Issue("start_at", "A control can be scheduled at most a week ahead."))
        return None
    return start


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


def _bounded_int(
    values: Mapping[str, object],
    name: str,
    low: int,
    high: int,
    unit: str,
    issues: list[Issue],
    required: bool = False,
) -> int | None:
    raw = values.get(name)
    if raw in (None, ""):
        if required:
            issues.append(Issue(name, f"Give a whole number of {unit} from {low} to {high}."))
        return None
    number = _int(raw)
    if number is None or not low <= number <= high:
        issues.append(Issue(name, f"Give a whole number of {unit} from {low} to {high}, not {raw!r}."))
        return None
    return number


def _bounded_float(
    values: Mapping[str, object], name: str, low: float, high: float, issues: list[Issue]
) -> float | None:
    raw = values.get(name)
    if raw in (None, ""):
        return None
    try:
        number = float(str(raw).strip()) if not isinstance(raw, bool) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        issues.append(Issue(name, f"Give a number from {low:g} to {high:g}, not {raw!r}."))
        return None
    return number


def _flag(values: Mapping[str, object], name: str, issues: list[Issue]) -> bool | None:
    raw = values.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    issues.append(Issue(name, f"Say true or false (or leave it out to leave it alone), not {raw!r}."))
    return None
