"""What a 2030.5 DER's device is asked to do now, resolved as the device resolves it
(`engine/sep2/following.py`): its own program's set points and default, and each of its groups'
programs, by primacy and mode by mode. For the DER page: which control or default sets each
quantity, so an operator sees why a DER holds something other than the dispatch's set point (a
group control ranked above it, say)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone

from apps.der_registry import sep2_setpoints
from apps.der_registry.engine.group_controls import DEVICE_PROGRAM_PRIMACY
from apps.der_registry.engine.ieee1547 import mode_label
from apps.der_registry.engine.sep2 import default_docs, defaults, groups
from apps.der_registry.engine.sep2 import resources as res
from apps.der_registry.engine.sep2.following import Following, ProgramControls, following
from apps.der_registry.engine.sep2.model import GroupProgramView
from apps.der_registry.models import DER, DERGroup, GroupControl
from apps.der_registry.sep2_group_store import group_control_views


@dataclass(frozen=True)
class Asked:
    what: str  # "Connection", "P limit", "P target", "Q"
    value: str  # in words and engineering units
    by: str  # "set point 12", "group north, control 15", "its own default mode" …
    link: str = ""  # the page of what set it, where it has one


def asked_now(der: DER, now: dt.datetime | None = None) -> list[Asked]:
    """One line per quantity some control or default sets, in the order an operator reads them."""
    at = now or timezone.now()
    group_rows = {g.pk: g for g in der.groups.all()}
    now_f = following(_programs(der, group_rows, at), at, der.lfdi or "")
    by = dict(now_f.set_by)
    lines = []
    if "connected" in by:
        words = "connected and energized" if now_f.connected else "disconnected (or not to energize)"
        lines.append(_line("Connection", words, by["connected"], der, group_rows))
    if "limit_pct" in by:
        lines.append(
            _line("P limit", f"{now_f.limit_pct:g} % of its setMaxW", by["limit_pct"], der, group_rows)
        )
    if "target_w" in by and now_f.target_w is not None:
        lines.append(_line("P target", f"{now_f.target_w / 1e3:g} kW", by["target_w"], der, group_rows))
    if "q" in by:
        lines.append(_line("Q", _reactive(now_f), by["q"], der, group_rows))
    return lines


def _programs(der: DER, group_rows: dict[int, DERGroup], at: dt.datetime) -> list[ProgramControls]:
    own_controls = tuple(res.der_control(der.pk, v) for v in sep2_setpoints.controls(der.pk))
    own_default = default_docs.default_der_control(
        defaults.default_control(der.pk, der.default_mode, der.mode_params)
    )
    programs = [ProgramControls(DEVICE_PROGRAM_PRIMACY, own_controls, own_default)]
    for g in group_rows.values():
        view = GroupProgramView(g.pk, g.name, g.primacy, g.default_mode, g.mode_params, g.default_changed_at)
        controls = tuple(groups.group_control(v, at) for v in groups.listed(group_control_views(g.pk), at))
        default_view = groups.group_default(view)
        default = None
        if default_view is not None:
            default = default_docs.default_der_control(
                default_view, groups.gderp(g.pk), groups.KIND_GROUP_DEFAULT
            )
        programs.append(ProgramControls(g.primacy, controls, default))
    return programs


def _reactive(now: Following) -> str:
    if now.target_var is not None:
        return f"{now.target_var / 1e3:+g} kvar"
    if now.var_pct is not None:
        return f"{now.var_pct:+g} % of its setMaxVar"
    if now.fixed_pf is not None:
        return f"power factor {now.fixed_pf:g}"
    if now.curve_mode:
        return f"{mode_label(now.curve_mode).lower()} on the curve {now.curve}"
    return "—"


def _line(what: str, value: str, mrid: str, der: DER, group_rows: dict[int, DERGroup]) -> Asked:
    """Who set it, from the mRID's kind: a set point, the DER's own default, a group's control or
    a group's default."""
    detail = reverse("der_registry:detail", args=[der.pk])
    if (n := res.mrid_number(mrid, res.KIND_CONTROL)) is not None:
        return Asked(
            what, value, f"set point {n} (its own program, primacy {DEVICE_PROGRAM_PRIMACY})", detail
        )
    if res.mrid_number(mrid, res.KIND_DEFAULT) is not None:
        return Asked(what, value, "its own default mode", detail)
    for kind, words in ((groups.KIND_GROUP_CONTROL, "control {n}"), (groups.KIND_GROUP_DEFAULT, "default")):
        if (n := res.mrid_number(mrid, kind)) is None:
            continue
        group = _group_of(kind, n, group_rows)
        if group is not None:
            page = reverse("der_registry:group", args=[group.pk])
            label = f"group {group.name}, {words.format(n=n)} (primacy {group.primacy})"
            return Asked(what, value, label, page)
    return Asked(what, value, mrid)


def _group_of(kind: int, n: int, group_rows: dict[int, DERGroup]) -> DERGroup | None:
    if kind == groups.KIND_GROUP_DEFAULT:
        return group_rows.get(n)
    group_id = GroupControl.objects.filter(pk=n).values_list("group_id", flat=True).first()
    return None if group_id is None else group_rows.get(group_id)
