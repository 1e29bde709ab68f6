"""Group programs: each DER group a device belongs to is one more FunctionSetAssignments in its list
(/edev/{id}/fsa/{group}), holding the group's DERProgram (/gderp/{group}) at the group's primacy, whose
DERControls are the group controls an operator issued (`engine/group_controls.py`). Routes and
encoders; a device reaches a group program only while one of its DERs is a member.

A group program has a DefaultDERControl (and the DERCurves it links) only when an admin gave the group
a default mode: a device takes the default of the first program by primacy that has one, so a group
default ranked above the members' own programs replaces each member's own default mode (ADR 0018)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from apps.der_registry.engine import group_controls as gc
from apps.der_registry.engine.sep2 import default_docs, defaults
from apps.der_registry.engine.sep2.http import HttpError, Reply, Request
from apps.der_registry.engine.sep2.model import (
    Client,
    CurveView,
    DefaultControlView,
    GroupControlView,
    GroupProgramView,
    Store,
)
from apps.der_registry.engine.sep2.replies import document, page
from apps.der_registry.engine.sep2.resources import RESPONSE_SET, edev, fixed_pf, fsa, list_doc, mrid
from apps.der_registry.engine.sep2.xmlcodec import element, epoch, leaf, link, scaled_element

# mRID kinds (resources: 1–6)
KIND_GROUP_FSA, KIND_GROUP_PROGRAM, KIND_GROUP_CONTROL, KIND_GROUP_DEFAULT, KIND_GROUP_CURVE = 7, 8, 9, 10, 11
ENDED_KEPT_S = 3600.0  # an ended or cancelled control stays listed this long, so every poller sees it
Handler = Callable[[Client, Request, tuple[int, ...]], Reply]


def gderp(group_id: int) -> str:
    return f"/gderp/{group_id}"


def listed(views: Sequence[GroupControlView], now: dt.datetime) -> list[GroupControlView]:
    """Those not ended (or cancelled, or superseded) more than ENDED_KEPT_S ago, in the standard's
    DERControlList order: interval.start ascending, creationTime descending, mRID descending."""
    cutoff = now - dt.timedelta(seconds=ENDED_KEPT_S)
    kept = [v for v in views if v.over_at >= cutoff]
    return sorted(kept, key=lambda v: (epoch(v.request.start_at), -epoch(v.created_at), -v.control_id))


def active(views: Sequence[GroupControlView], now: dt.datetime) -> list[GroupControlView]:
    return [
        v
        for v in listed(views, now)
        if v.cancelled_at is None and v.superseded_at is None and v.request.start_at <= now < v.request.end_at
    ]


def group_fsa(edev_id: int, program: GroupProgramView) -> ET.Element:
    group_mrid = mrid(KIND_GROUP_FSA, program.group_id)
    return fsa(edev_id, program.group_id, group_mrid, f"Group {program.name}")


def group_default(program: GroupProgramView) -> DefaultControlView | None:
    """The group program's DefaultDERControl, if the group has a default mode."""
    if not program.has_default:
        return None
    return defaults.default_control(program.group_id, program.default_mode, program.mode_params)


def group_curves(program: GroupProgramView) -> list[CurveView]:
    if not program.has_default or program.default_changed_at is None:
        return []
    return defaults.curves(program.default_mode, program.mode_params, program.default_changed_at)


def group_program(program: GroupProgramView, controls: int, active_controls: int) -> ET.Element:
    base = gderp(program.group_id)
    with_default = program.has_default
    return element(
        "DERProgram",
        {"href": base, "subscribable": "0"},
        [
            leaf("mRID", mrid(KIND_GROUP_PROGRAM, program.group_id)),
            leaf("description", f"Group {program.name}"[:32]),
            link("ActiveDERControlListLink", f"{base}/actderc", active_controls),
            link("DefaultDERControlLink", f"{base}/dderc") if with_default else None,
            link("DERControlListLink", f"{base}/derc", controls),
            link("DERCurveListLink", f"{base}/dc", len(group_curves(program))) if with_default else None,
            leaf("primacy", program.primacy),
        ],
    )


def _base(req: gc.GroupControlRequest) -> ET.Element:
    fixed_var = None
    if req.fixed_var_pct is not None:  # % of setMaxVar (DERUnitRefType 2), hundredths
        fixed_var = element(
            "opModFixedVar", children=[leaf("refType", 2), leaf("value", round(req.fixed_var_pct * 100))]
        )
    return element(
        "DERControlBase",
        children=[  # in the schema's order
            leaf("opModConnect", req.connect),
            leaf("opModEnergize", req.energize),
            fixed_pf(req.fixed_pf),
            fixed_var,
            None if req.max_lim_pct is None else leaf("opModMaxLimW", round(req.max_lim_pct * 100)),
            None if req.target_w_kw is None else scaled_element("opModTargetW", req.target_w_kw * 1000.0),
            None if req.ramp_s is None else leaf("rampTms", round(req.ramp_s * 100)),
        ],
    )


def group_control(view: GroupControlView, now: dt.datetime) -> ET.Element:
    req = view.request
    superseded = view.superseded_at is not None
    status = gc.event_status(req, view.cancelled_at is not None, now, superseded)
    changed = (
        view.cancelled_at or view.superseded_at or (req.start_at if status == gc.ACTIVE else view.created_at)
    )
    return element(
        "DERControl",
        {
            "href": f"{gderp(view.group_id)}/derc/{view.control_id}",
            "replyTo": RESPONSE_SET,
            "responseRequired": "03",
            "subscribable": "0",
        },
        [
            leaf("mRID", mrid(KIND_GROUP_CONTROL, view.control_id)),
            leaf("description", req.description[:32]),
            leaf("creationTime", epoch(view.created_at)),
            element(
                "EventStatus",
                children=[
                    leaf("currentStatus", status),
                    leaf("dateTime", epoch(changed)),
                    leaf("potentiallySuperseded", superseded),
                ],
            ),
            element(
                "interval", children=[leaf("duration", req.duration_s), leaf("start", epoch(req.start_at))]
            ),
            leaf("randomizeDuration", req.randomize_duration_s or None),
            leaf("randomizeStart", req.randomize_start_s or None),
            _base(req),
        ],
    )


def group_control_list(
    group_id: int, views: Sequence[GroupControlView], total: int, now: dt.datetime, tail: str = "derc"
) -> ET.Element:
    items = [group_control(v, now) for v in views]
    return list_doc("DERControlList", f"{gderp(group_id)}/{tail}", total, items, None)


class GroupRoutes:
    def __init__(self, store: Store, poll_s: int) -> None:
        self.store = store
        self.poll_s = poll_s

    def table(self, n: str) -> list[tuple[str, str, Handler]]:
        """(method, path pattern, handler); `n` matches one number. After the device's own fsa/0."""
        return [
            ("GET", f"/edev/{n}/fsa/{n}", self.get_fsa),
            ("GET", f"/edev/{n}/fsa/{n}/derp", self.get_program_list),
            ("GET", f"/gderp/{n}", self.get_program),
            ("GET", f"/gderp/{n}/derc", self.get_controls),
            ("GET", f"/gderp/{n}/actderc", self.get_active_controls),
            ("GET", f"/gderp/{n}/derc/{n}", self.get_control),
            ("GET", f"/gderp/{n}/dderc", self.get_default),
            ("GET", f"/gderp/{n}/dc", self.get_curves),
            ("GET", f"/gderp/{n}/dc/{n}", self.get_curve),
        ]

    def programs(self, der_id: int) -> list[GroupProgramView]:
        """The group programs of one of the client's devices, by group id (its FSA order)."""
        return sorted(self.store.group_programs((der_id,)), key=lambda p: p.group_id)

    def _program(self, client: Client, group_id: int) -> GroupProgramView:
        for program in self.store.group_programs(client.der_ids):
            if program.group_id == group_id:
                return program
        raise HttpError(404, f"There is no group program {group_id} for this client's devices.")

    def _of_device(self, client: Client, der_id: int, group_id: int) -> GroupProgramView:
        if der_id not in client.der_ids:
            raise HttpError(404, f"EndDevice {der_id} is not one of this client's devices.")
        for program in self.programs(der_id):
            if program.group_id == group_id:
                return program
        raise HttpError(404, f"EndDevice {der_id} has no FunctionSetAssignments {group_id}.")

    def get_fsa(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(group_fsa(ids[0], self._of_device(client, ids[0], ids[1])))

    def get_program_list(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        program, p = self._of_device(client, ids[0], ids[1]), page(req)
        items = [self._program_doc(program)][p.start : p.start + p.limit]
        href = f"{edev(ids[0])}/fsa/{ids[1]}/derp"
        return document(list_doc("DERProgramList", href, 1, items, self.poll_s))

    def _program_doc(self, program: GroupProgramView) -> ET.Element:
        views, now = self.store.group_controls(program.group_id), dt.datetime.now(dt.UTC)
        return group_program(program, len(listed(views, now)), len(active(views, now)))

    def get_program(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        return document(self._program_doc(self._program(client, ids[0])))

    def get_controls(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        group_id, now = self._program(client, ids[0]).group_id, dt.datetime.now(dt.UTC)
        views = listed(self.store.group_controls(group_id), now)
        return document(group_control_list(group_id, page(req).of(views), len(views), now))

    def get_active_controls(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        group_id, now = self._program(client, ids[0]).group_id, dt.datetime.now(dt.UTC)
        views = active(self.store.group_controls(group_id), now)
        return document(group_control_list(group_id, page(req).of(views), len(views), now, "actderc"))

    def get_control(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        group_id = self._program(client, ids[0]).group_id
        view = self.store.group_control(group_id, ids[1])
        if view is None:
            raise HttpError(404, f"DERControl {ids[1]} is not in group program {group_id}.")
        return document(group_control(view, dt.datetime.now(dt.UTC)))

    def get_default(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        program = self._program(client, ids[0])
        view = group_default(program)
        if view is None:
            raise HttpError(404, f"Group program {program.group_id} has no DefaultDERControl.")
        return document(default_docs.default_der_control(view, gderp(program.group_id), KIND_GROUP_DEFAULT))

    def get_curves(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        program = self._program(client, ids[0])
        views = group_curves(program)
        base = gderp(program.group_id)
        items = page(req).of(views)
        return document(
            default_docs.der_curve_list(program.group_id, items, len(views), base, KIND_GROUP_CURVE)
        )

    def get_curve(self, client: Client, req: Request, ids: tuple[int, ...]) -> Reply:
        program = self._program(client, ids[0])
        for view in group_curves(program):
            if view.curve_id == ids[1]:
                base = gderp(program.group_id)
                return document(default_docs.der_curve(program.group_id, view, base, KIND_GROUP_CURVE))
        raise HttpError(404, f"Group program {program.group_id} has no curve {ids[1]}.")
