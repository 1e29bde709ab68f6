"""What a 2030.5 device does with the DERControls of all its programs (2030.5 §10.10.4, CSIP §5.2):
a control is in force from its start (pushed later by its randomizeStart) for its duration (changed
by its randomizeDuration) unless cancelled or superseded; where controls of several programs set the
same mode, the program of lowest primacy wins; modes no control sets are left as the device keeps
them. Used by the simulated devices (`simulator.py`); framework-free."""

from __future__ import annotations

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from apps.der_registry.engine.sep2.xmlcodec import q, scaled

ACTIVE, SCHEDULED = 1, 0


@dataclass(frozen=True)
class ProgramControls:
    primacy: int
    controls: tuple[ET.Element, ...]  # its DERControlList's DERControls


@dataclass(frozen=True)
class Following:
    limit_pct: float = 100.0  # opModMaxLimW, % of setMaxW
    target_var: float | None = None  # opModTargetVar, var
    var_pct: float | None = None  # opModFixedVar, % of setMaxVar
    target_w: float | None = None  # opModTargetW, W
    connected: bool = True  # opModConnect and opModEnergize both not false
    in_force: tuple[str, ...] = ()  # mRIDs of the controls in force


def spread_s(lfdi: str, mrid: str, randomize_s: int) -> int:
    """This device's share of a randomization: fixed per device and control, within 0 … randomize_s."""
    if randomize_s == 0:
        return 0
    digest = int(hashlib.sha256(f"{lfdi}/{mrid}".encode()).hexdigest()[:8], 16)
    share = digest % (abs(randomize_s) + 1)
    return share if randomize_s > 0 else -share


def in_force(control: ET.Element, now: dt.datetime, lfdi: str) -> bool:
    status = int(control.findtext(f"{q('EventStatus')}/{q('currentStatus')}") or -1)
    if status not in (ACTIVE, SCHEDULED):
        return False
    mrid = control.findtext(q("mRID")) or ""
    start_s = int(control.findtext(f"{q('interval')}/{q('start')}") or 0)
    start_s += spread_s(lfdi, mrid, int(control.findtext(q("randomizeStart")) or 0))
    duration_s = int(control.findtext(f"{q('interval')}/{q('duration')}") or 0)
    duration_s += spread_s(lfdi, mrid, int(control.findtext(q("randomizeDuration")) or 0))
    return start_s <= now.timestamp() < start_s + duration_s


@dataclass(frozen=True)
class _Modes:
    connected: bool | None = None
    limit_pct: float | None = None
    q: tuple[str, float] | None = None  # ("target_var", var) or ("var_pct", % of setMaxVar)
    target_w: float | None = None


def _modes(control: ET.Element) -> _Modes:
    base = control.find(q("DERControlBase"))
    if base is None:
        return _Modes()
    flags = [base.findtext(q(tag)) for tag in ("opModConnect", "opModEnergize")]
    given = [f.strip() == "true" for f in flags if f is not None]
    limit = base.findtext(q("opModMaxLimW"))
    target, fixed = scaled(base, "opModTargetVar"), base.find(q("opModFixedVar"))
    reactive = None  # one reactive mode: the target var or the fixed share
    if target is not None:
        reactive = ("target_var", target)
    elif fixed is not None:
        reactive = ("var_pct", int(fixed.findtext(q("value")) or 0) / 100.0)
    limit_pct = None if limit is None else int(limit) / 100.0
    return _Modes(all(given) if given else None, limit_pct, reactive, scaled(base, "opModTargetW"))


def following(programs: Sequence[ProgramControls], now: dt.datetime, lfdi: str) -> Following:
    """Each mode from the in-force control of the lowest primacy that sets it (within a program,
    the latest start)."""
    connected: bool | None = None
    limit: float | None = None
    reactive: tuple[str, float] | None = None
    target_w: float | None = None
    used: list[str] = []
    for program in sorted(programs, key=lambda p: p.primacy):
        live = [c for c in program.controls if in_force(c, now, lfdi)]
        live.sort(key=lambda c: int(c.findtext(f"{q('interval')}/{q('start')}") or 0), reverse=True)
        for control in live:
            modes = _modes(control)
            connected = modes.connected if connected is None else connected
            limit = modes.limit_pct if limit is None else limit
            reactive = modes.q if reactive is None else reactive
            target_w = modes.target_w if target_w is None else target_w
            used.append(control.findtext(q("mRID")) or "")
    kind, amount = reactive or ("", 0.0)
    return Following(
        limit_pct=100.0 if limit is None else limit,
        target_var=amount if kind == "target_var" else None,
        var_pct=amount if kind == "var_pct" else None,
        target_w=target_w,
        connected=True if connected is None else connected,
        in_force=tuple(used),
    )
