"""A DER's set points as its 2030.5 program serves them: DERControls, and the DERCurves that volt–var
and watt–var set points carry (`/derp/{id}/dc/{100 + set point id}`, listed while their control is)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.der_registry.engine.sep2 import defaults, lists
from apps.der_registry.engine.sep2.model import ControlView, CurveView
from apps.der_registry.models import DER, Sep2EndDevice, SetPoint

RECENT = 255  # list documents carry at most 255 entries (results is a UInt8)


def _max_w_kw(der_id: int) -> float:
    """What the device takes opModMaxLimW as a share of: its setMaxW as it last reported it in
    DERSettings (2030.5: "percent of setMaxW"), else the registry's effective active power rating —
    the two differ while a reported configuration awaits agreement. Asked only for set points with
    a P limit (a Q-only set point needs neither row)."""
    edev = Sep2EndDevice.objects.filter(der_id=der_id).only("settings").first()
    reported = edev.settings.get("setMaxW") if edev is not None else None
    if isinstance(reported, int | float) and reported > 0:
        return float(reported) / 1000.0
    return float(DER.objects.get(pk=der_id).effective()["active_power_kw"].value or 0.0)


def _control(sp: SetPoint, active_kw: float) -> ControlView:
    pf = sp.params.get("pf") if sp.control_mode == "constant_pf" else None
    curve = defaults.setpoint_curve(sp.pk, sp.issued_at, sp.control_mode, sp.params)
    return ControlView(
        setpoint_id=sp.pk,
        issued_at=sp.issued_at,
        status=sp.status,
        description=f"{sp.get_source_display()} set point",
        max_lim_pct=None
        if sp.p_limit_kw is None or active_kw <= 0
        else min(100.0, 100.0 * sp.p_limit_kw / active_kw),
        target_var=None if sp.q_kvar is None else sp.q_kvar * 1000.0,
        fixed_pf=float(pf) if isinstance(pf, int | float) else None,
        curve=defaults.setpoint_curve_link(sp.control_mode) if curve else "",
        curve_id=curve.curve_id if curve else 0,
    )


def _recent(der_id: int) -> list[SetPoint]:
    # Only what lists.controls keeps (the newest and the last SUPERSEDED_KEPT_S), in one statement:
    # the program list and the control list ask for these on every poll, and a DER's history grows
    # by a set point per dispatch (index setpoint_der_newest). Written out rather than built by the
    # ORM: building this query took a fifth of a 2030.5 worker's Python time under the benchmark's
    # load (issue 16, item 11), and it is always the same statement.
    cutoff = timezone.now() - dt.timedelta(seconds=lists.SUPERSEDED_KEPT_S)
    return list(SetPoint.objects.raw(_RECENT_SQL, [der_id, cutoff, der_id, RECENT]))


_TABLE = SetPoint._meta.db_table
_RECENT_SQL = f"""
    SELECT * FROM {_TABLE}
     WHERE der_id = %s AND (
           issued_at >= %s
           OR id = (SELECT id FROM {_TABLE} WHERE der_id = %s ORDER BY issued_at DESC, id DESC LIMIT 1))
     ORDER BY issued_at DESC, id DESC LIMIT %s"""


def controls(der_id: int) -> list[ControlView]:
    setpoints = _recent(der_id)
    max_w_kw = _max_w_kw(der_id) if any(sp.p_limit_kw is not None for sp in setpoints) else 0.0
    return lists.controls([_control(sp, max_w_kw) for sp in setpoints], timezone.now())


def control(der_id: int, setpoint_id: int) -> ControlView | None:
    sp = SetPoint.objects.filter(der_id=der_id, pk=setpoint_id).first()
    return None if sp is None else _control(sp, _max_w_kw(der_id) if sp.p_limit_kw is not None else 0.0)


def curves(der_id: int) -> list[CurveView]:
    """The curves of the set points whose controls are listed (one query)."""
    return _listed(_recent(der_id))[1]


def counts(der_id: int) -> tuple[int, int]:
    """How many controls and set-point curves the program lists, from one query: the program list
    asks for both on every poll (no P limit is scaled, so no rating is read)."""
    controls, curves = _listed(_recent(der_id))
    return len(controls), len(curves)


def _listed(setpoints: list[SetPoint]) -> tuple[list[ControlView], list[CurveView]]:
    views = lists.controls([_control(sp, 0.0) for sp in setpoints], timezone.now())
    listed = {v.setpoint_id for v in views}
    found = (defaults.setpoint_curve(sp.pk, sp.issued_at, sp.control_mode, sp.params) for sp in setpoints)
    return views, [c for sp, c in zip(setpoints, found, strict=True) if c is not None and sp.pk in listed]
