"""What a 2030.5 device does with the DERControls of all its programs (2030.5 §10.10.4, CSIP §5.2):
a control is in force from its start (pushed later by its randomizeStart) for its duration (changed
by its randomizeDuration) unless cancelled or superseded; where controls of several programs set the
same mode, the program of lowest primacy wins; modes no control sets are left as the device keeps
them, or as the DefaultDERControl of the lowest-primacy program that has one says. A volt–var or
watt–var mode is followed on its DERCurve: Q in % of the available var, read off the curve at the
device's voltage (or its output) each poll. Used by the simulated devices (`simulator.py`);
framework-free."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace

from apps.der_registry.engine.sep2.model import CURVE_VOLT_VAR, CURVE_WATT_VAR
from apps.der_registry.engine.sep2.xmlcodec import q, scaled

ACTIVE, SCHEDULED = 1, 0


@dataclass(frozen=True)
class ProgramControls:
    primacy: int
    controls: tuple[ET.Element, ...]  # its DERControlList's DERControls
    default: ET.Element | None = None  # its DefaultDERControl, if it has one


@dataclass(frozen=True)
class Following:
    limit_pct: float = 100.0  # opModMaxLimW, % of setMaxW
    target_var: float | None = None  # opModTargetVar, var
    var_pct: float | None = None  # opModFixedVar, % of setMaxVar
    target_w: float | None = None  # opModTargetW, W
    connected: bool = True  # opModConnect and opModEnergize both not false
    in_force: tuple[str, ...] = ()  # mRIDs of the controls in force
    curve: str = ""  # href of the DERCurve the reactive mode follows (opModVoltVar, opModWattVar)
    curve_mode: str = ""  # "volt_var" or "watt_var", with a curve
    fixed_pf: float | None = None  # opModFixedPF, signed (EEI: negative while absorbing vars)
    # Which control (or default) set each quantity: ("connected" | "limit_pct" | "q" | "target_w", mRID).
    set_by: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Curve:
    curve_type: int  # DERCurveType, 2013 numbering: CURVE_VOLT_VAR or CURVE_WATT_VAR
    points: tuple[tuple[float, float], ...]  # (V % of nominal or P % of rating, Q % of var available)


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
    # ("target_var", var, ""), ("var_pct", %, ""), ("pf", signed pf, ""), ("volt_var" | "watt_var", 0, href)
    q: tuple[str, float, str] | None = None
    target_w: float | None = None


def _modes(control: ET.Element) -> _Modes:
    base = control.find(q("DERControlBase"))
    if base is None:
        return _Modes()
    flags = [base.findtext(q(tag)) for tag in ("opModConnect", "opModEnergize")]
    given = [f.strip() == "true" for f in flags if f is not None]
    limit = base.findtext(q("opModMaxLimW"))
    target, fixed = scaled(base, "opModTargetVar"), base.find(q("opModFixedVar"))
    pf = base.find(q("opModFixedPF"))
    curve = next((c for c in base if c.tag in (q("opModVoltVar"), q("opModWattVar"))), None)
    reactive = None  # one reactive mode: the target var, the fixed share, a power factor or a curve
    if target is not None:
        reactive = ("target_var", target, "")
    elif fixed is not None:
        reactive = ("var_pct", int(fixed.findtext(q("value")) or 0) / 100.0, "")
    elif pf is not None:  # 2013: displacement × 10^multiplier, signed
        power = int(pf.findtext(q("multiplier")) or 0)
        reactive = ("pf", round(int(pf.findtext(q("displacement")) or 0) * 10.0**power, 6), "")
    elif curve is not None:
        mode = "volt_var" if curve.tag == q("opModVoltVar") else "watt_var"
        reactive = (mode, 0.0, curve.attrib.get("href", ""))
    limit_pct = None if limit is None else int(limit) / 100.0
    return _Modes(all(given) if given else None, limit_pct, reactive, scaled(base, "opModTargetW"))


def following(programs: Sequence[ProgramControls], now: dt.datetime, lfdi: str) -> Following:
    """Each mode from the in-force control of the lowest primacy that sets it (within a program,
    the latest start); a mode no control sets, from the default of the lowest-primacy program that
    has one."""
    found = _Modes()
    used: list[str] = []
    set_by: dict[str, str] = {}
    ranked = sorted(programs, key=lambda p: p.primacy)
    for program in ranked:
        live = [c for c in program.controls if in_force(c, now, lfdi)]
        live.sort(key=lambda c: int(c.findtext(f"{q('interval')}/{q('start')}") or 0), reverse=True)
        for control in live:
            found = _fill(found, _modes(control), control.findtext(q("mRID")) or "", set_by)
            used.append(control.findtext(q("mRID")) or "")
    default = next((p.default for p in ranked if p.default is not None), None)
    if default is not None:
        found = _fill(found, _modes(default), default.findtext(q("mRID")) or "", set_by)
    kind, amount, href = found.q or ("", 0.0, "")
    return Following(
        limit_pct=100.0 if found.limit_pct is None else found.limit_pct,
        target_var=amount if kind == "target_var" else None,
        var_pct=amount if kind == "var_pct" else None,
        fixed_pf=amount if kind == "pf" else None,
        target_w=found.target_w,
        connected=True if found.connected is None else found.connected,
        in_force=tuple(used),
        curve=href,
        curve_mode=kind if href else "",
        set_by=tuple(sorted(set_by.items())),
    )


def _fill(found: _Modes, more: _Modes, mrid: str, set_by: dict[str, str]) -> _Modes:
    """The modes found so far, with those still unset taken from `more` (set by `mrid`)."""
    for name in ("connected", "limit_pct", "q", "target_w"):
        if getattr(found, name) is None and getattr(more, name) is not None:
            set_by[name] = mrid
    return _Modes(
        more.connected if found.connected is None else found.connected,
        more.limit_pct if found.limit_pct is None else found.limit_pct,
        more.q if found.q is None else found.q,
        more.target_w if found.target_w is None else found.target_w,
    )


def curve_of(doc: ET.Element) -> Curve | None:
    """A DERCurve as served (x and y in value × 10^multiplier, percent); None for a curve type the
    devices do not follow."""
    curve_type = int(doc.findtext(q("curveType")) or -1)
    if curve_type not in (CURVE_VOLT_VAR, CURVE_WATT_VAR):
        return None
    x_scale = 10.0 ** int(doc.findtext(q("xMultiplier")) or 0)
    y_scale = 10.0 ** int(doc.findtext(q("yMultiplier")) or 0)
    points = tuple(
        (int(d.findtext(q("xvalue")) or 0) * x_scale, int(d.findtext(q("yvalue")) or 0) * y_scale)
        for d in doc.iter(q("CurveData"))
    )
    return Curve(curve_type, points) if points else None


def on_curve(curve: Curve, x: float) -> float:
    """y at x: linear between the points, flat beyond the first and the last (IEEE 1547-2018
    §5.3.3: the curve's end values hold outside its range)."""
    points = sorted(curve.points)
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return points[-1][1]


def with_power_factor(now: Following, p_w: float) -> Following:
    """What a device at a fixed power factor holds now: the Q its output P needs,
    P·tan(acos|pf|), absorbed for a negative power factor (EEI)."""
    if now.fixed_pf is None or not 0 < abs(now.fixed_pf) <= 1:
        return now
    q_var = max(p_w, 0.0) * math.tan(math.acos(abs(now.fixed_pf)))
    return replace(now, target_var=round(q_var if now.fixed_pf > 0 else -q_var, 1), var_pct=None)


def with_curve(now: Following, curve: Curve | None, v_pct: float, p_pct: float) -> Following:
    """What a device following a curve holds now: the curve's Q share at its voltage (volt–var) or
    its output (watt–var), both in % of nominal / rating, as a fixed share of its var rating."""
    if not now.curve or curve is None:
        return now
    x = v_pct if curve.curve_type == CURVE_VOLT_VAR else p_pct
    return replace(now, var_pct=round(on_curve(curve, x), 2), target_var=None)
