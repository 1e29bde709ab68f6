"""The registry as the IEEE 2030.5 server sees it: implements engine.sep2.model.Store over the ORM.
Reads go straight to the models; every change goes through a do_* action (source "sep2")."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import close_old_connections, connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.der_registry import actions, sep2_mirror_rows, sep2_setpoints
from apps.der_registry.actions import RegistryError
from apps.der_registry.engine.lifecycle import Status
from apps.der_registry.engine.sep2 import defaults
from apps.der_registry.engine.sep2.editions import EDITIONS
from apps.der_registry.engine.sep2.groups import KIND_GROUP_CONTROL
from apps.der_registry.engine.sep2.mirror import (
    MeterReadingPost,
    MirrorPost,
    MirrorView,
    ReadingSetView,
    ReadingValue,
)
from apps.der_registry.engine.sep2.model import (
    Client,
    ControlView,
    CurveView,
    DefaultControlView,
    DerState,
    EndDeviceView,
    GroupControlView,
    GroupProgramView,
    LogEventView,
    PendingGroupNotification,
    PendingNotification,
    ResponseView,
    Sep2Refusal,
    SubscriptionView,
)
from apps.der_registry.engine.sep2.resources import KIND_CONTROL, mrid, mrid_number
from apps.der_registry.engine.sep2_identity import sfdi_from_lfdi
from apps.der_registry.models import (
    DER,
    DERGroup,
    GroupControl,
    Sep2EndDevice,
    Sep2LogEvent,
    Sep2MirrorUsagePoint,
    Sep2Response,
    Sep2Subscription,
    SetPoint,
)
from apps.der_registry.sep2_group_store import GroupStore
from apps.der_registry.sep2_mirror_rows import mirror_view
from apps.der_registry.sep2_rows import subscription_view
from apps.der_registry.sep2_setpoints import RECENT

SOURCE = "sep2"
F = TypeVar("F", bound=Callable[..., Any])


def on_worker_thread(method: F) -> F:
    """Registry refusals become HTTP 400 with their words; a broken connection is dropped so the
    next request on this worker thread reconnects."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except RegistryError as exc:
            raise Sep2Refusal(400, f"The registry refused this: {exc}") from None
        except Exception:
            if connection.connection is not None and not connection.is_usable():
                close_old_connections()
                connection.close()
            raise

    return wrapper  # type: ignore[return-value]


def _view(der: DER, edev: Sep2EndDevice | None) -> EndDeviceView:
    return EndDeviceView(
        edev_id=der.pk,
        lfdi=der.lfdi,
        sfdi=der.sfdi or 0,
        # A suspension in the registry is a change of the EndDevice (enabled) the device must see.
        changed_at=max(edev.changed_at, der.updated_at) if edev else der.updated_at,
        registered_at=edev.registered_at if edev else None,
        pin=int(der.registration_pin) if der.registration_pin.isdigit() else None,
        enabled=der.status == Status.ACTIVE,
        fsa_count=1 + getattr(der, "n_groups", 0),
    )


def _sfdi(der: DER) -> int | None:
    return der.sfdi if der.sfdi is not None else sfdi_from_lfdi(der.lfdi) if der.lfdi else None


def _by_sfdi(live: QuerySet[DER], client: Client, sfdi: int) -> DER:
    """The one DER of this client with this sFDI (the registry's, or the one its LFDI gives)."""
    mine = [d for d in live.filter(pk__in=client.der_ids) if _sfdi(d) == sfdi]
    if len(mine) != 1:
        found = "No DER" if not mine else f"{len(mine)} DERs"
        raise Sep2Refusal(
            400 if not mine else 409,
            f"{found} managed by this client ({client.name}) in the registry {'has' if not mine else 'have'} "
            f"the SFDI {sfdi}; register the EndDevice with its lFDI.",
        )
    return mine[0]


class RegistryStore(GroupStore):
    @on_worker_thread
    def identify(self, lfdi: str) -> Client | None:
        lfdi = lfdi.upper()
        der = (
            DER.objects.filter(lfdi=lfdi)
            .exclude(status=Status.DECOMMISSIONED)
            .only("pk", "name", "sep2_edition")
            .first()
        )
        if der is not None:
            return Client(lfdi, "device", der.name, (der.pk,), EDITIONS[der.sep2_edition])
        group = DERGroup.objects.filter(lfdi=lfdi, kind=DERGroup.Kind.AGGREGATOR).first()
        if group is None:
            return None
        ids = group.ders.exclude(status=Status.DECOMMISSIONED).values_list("pk", flat=True)
        return Client(lfdi, "aggregator", group.name, tuple(ids), EDITIONS[group.sep2_edition])

    @on_worker_thread
    def note_namespace(self, client: Client, namespace: str) -> None:
        edition = {ns: name for name, ns in EDITIONS.items()}[namespace]
        actions.do_note_sep2_edition(None, SOURCE, client.lfdi, edition)

    def _aggregator_id(self, client: Client) -> int | None:
        if client.kind != "aggregator":
            return None
        return DERGroup.objects.filter(lfdi=client.lfdi).values_list("pk", flat=True).first()

    @on_worker_thread
    def end_devices(self, client: Client) -> list[EndDeviceView]:
        """A device sees itself (it is provisioned by its enrolment); an aggregator sees the devices
        it has registered."""
        edevs = {e.der_id: e for e in Sep2EndDevice.objects.filter(der_id__in=client.der_ids)}
        ders = DER.objects.filter(pk__in=client.der_ids if client.kind == "device" else list(edevs))
        ders = ders.annotate(n_groups=Count("groups"))
        return [_view(d, edevs.get(d.pk)) for d in ders.order_by("pk")]

    @on_worker_thread
    def end_device(self, client: Client, edev_id: int) -> EndDeviceView | None:
        # One query: the DER, its registration (if any) and how many groups (FSAs) it is in.
        der = DER.objects.select_related("sep2").annotate(n_groups=Count("groups")).get(pk=edev_id)
        edev = getattr(der, "sep2", None)  # None: not registered yet
        if edev is None:
            return _view(der, None) if client.kind == "device" else None
        return _view(der, edev)

    @on_worker_thread
    def register_end_device(self, client: Client, lfdi: str, sfdi: int) -> int:
        live = DER.objects.exclude(status=Status.DECOMMISSIONED)
        der = live.filter(lfdi=lfdi.upper()).first() if lfdi else _by_sfdi(live, client, sfdi)
        if der is None:
            raise Sep2Refusal(
                400, f"No DER with LFDI {lfdi} is enrolled in the registry; enrol it before registering it."
            )
        if der.pk not in client.der_ids:
            raise Sep2Refusal(
                403, f"{der.name} is not managed by this client ({client.name}) in the registry."
            )
        if der.sfdi is not None and der.sfdi != sfdi:
            raise Sep2Refusal(400, f"The SFDI {sfdi} does not match the registry's SFDI for {der.name}.")
        actions.do_register_sep2_end_device(None, SOURCE, der.pk, self._aggregator_id(client))
        return der.pk

    @on_worker_thread
    def controls(self, der_id: int) -> list[ControlView]:
        return sep2_setpoints.controls(der_id)

    @on_worker_thread
    def control(self, der_id: int, setpoint_id: int) -> ControlView | None:
        return sep2_setpoints.control(der_id, setpoint_id)

    @on_worker_thread
    def default_control(self, der_id: int) -> DefaultControlView:
        der = DER.objects.only("default_mode", "mode_params").get(pk=der_id)
        return defaults.default_control(der_id, der.default_mode, der.mode_params)

    @on_worker_thread
    def curves(self, der_id: int) -> list[CurveView]:
        return self._own_curves(der_id) + sep2_setpoints.curves(der_id)

    @on_worker_thread
    def program_counts(self, der_id: int) -> tuple[int, int]:
        controls, setpoint_curves = sep2_setpoints.counts(der_id)
        return controls, len(self._own_curves(der_id)) + setpoint_curves

    def _own_curves(self, der_id: int) -> list[CurveView]:
        der = DER.objects.only("default_mode", "mode_params", "updated_at").get(pk=der_id)
        return defaults.curves(der.default_mode, der.mode_params, der.updated_at)

    @on_worker_thread
    def group_programs(self, der_ids: tuple[int, ...]) -> list[GroupProgramView]:
        return self._group_programs(der_ids)

    @on_worker_thread
    def group_controls(self, group_id: int) -> list[GroupControlView]:
        return self._group_controls(group_id)

    @on_worker_thread
    def group_control(self, group_id: int, control_id: int) -> GroupControlView | None:
        return self._group_control(group_id, control_id)

    @on_worker_thread
    def latest_group_change(self) -> dt.datetime:
        return self._latest_group_change()

    @on_worker_thread
    def group_notifications_since(
        self, after: dt.datetime
    ) -> tuple[dt.datetime, list[PendingGroupNotification]]:
        return self._group_notifications_since(after)

    @on_worker_thread
    def der_state(self, der_id: int, kind: str) -> DerState:
        edev = Sep2EndDevice.objects.filter(der_id=der_id).first()
        if edev is None or kind not in edev.reported_at:
            return DerState()
        values = getattr(edev, actions.SEP2_KIND_FIELDS[kind])
        return DerState(values, dt.datetime.fromisoformat(edev.reported_at[kind]))

    @on_worker_thread
    def put_der_state(self, client: Client, der_id: int, kind: str, values: dict[str, object]) -> None:
        actions.do_record_sep2_der_state(None, SOURCE, der_id, kind, values)

    @on_worker_thread
    def responses(self, client: Client) -> list[ResponseView]:
        rows = Sep2Response.objects.filter(der_id__in=client.der_ids).select_related("der")[:RECENT]
        return [ResponseView(r.pk, r.der.lfdi, r.subject, r.status, r.created_at) for r in rows]

    @on_worker_thread
    def record_response(self, client: Client, lfdi: str, subject: str, status: int, t: dt.datetime) -> int:
        der = DER.objects.filter(lfdi=lfdi, pk__in=client.der_ids).first()
        if der is None:
            raise Sep2Refusal(
                403, f"The response names LFDI {lfdi}, which is not one of this client's devices."
            )
        if t > timezone.now() + dt.timedelta(minutes=5):
            raise Sep2Refusal(400, "The response's createdDateTime is in the future; check the device clock.")
        # The mRID's kind says which DERControl it answers: a set point of the DER's own program, or
        # a control of one of its groups' programs.
        setpoint_id = mrid_number(subject, KIND_CONTROL)
        if setpoint_id is not None and SetPoint.objects.filter(pk=setpoint_id, der=der).exists():
            canonical = mrid(KIND_CONTROL, setpoint_id)
            return actions.do_record_sep2_response(None, SOURCE, der.pk, setpoint_id, canonical, status, t).pk
        control_id = mrid_number(subject, KIND_GROUP_CONTROL)
        if control_id is not None and GroupControl.objects.filter(pk=control_id, group__ders=der).exists():
            canonical = mrid(KIND_GROUP_CONTROL, control_id)
            return actions.do_record_group_response(None, SOURCE, der.pk, control_id, canonical, status, t).pk
        raise Sep2Refusal(400, f"The subject {subject} is not a DERControl this server issued to {der.name}.")

    @on_worker_thread
    def log_events(self, der_id: int) -> list[LogEventView]:
        rows = Sep2LogEvent.objects.filter(der_id=der_id)[:RECENT]
        return [
            LogEventView(r.pk, r.created_at, r.function_set, r.code, r.event_id, r.pen, r.profile, r.details)
            for r in rows
        ]

    @on_worker_thread
    def record_log_event(self, client: Client, der_id: int, event: LogEventView) -> int:
        values = {
            "created_at": event.created_at,
            "function_set": event.function_set,
            "code": event.code,
            "event_id": event.event_id,
            "pen": event.pen,
            "profile": event.profile,
            "details": event.details[:32],
        }
        return actions.do_record_sep2_log_event(None, SOURCE, der_id, values).pk

    @on_worker_thread
    def subscriptions(self, der_id: int) -> list[SubscriptionView]:
        rows = DER.objects.get(pk=der_id).sep2_subscriptions.all()[:RECENT]
        return [subscription_view(s) for s in rows]

    @on_worker_thread
    def subscribe(self, client: Client, der_id: int, sub: SubscriptionView) -> int:
        if not sub.notification_uri.startswith(("https://", "http://")):
            raise Sep2Refusal(400, "The notificationURI must be an http(s) address the server can reach.")
        values = {
            "resource": sub.resource[:200],
            "notification_uri": sub.notification_uri[:300],
            "limit": sub.limit,
            "encoding": sub.encoding,
            "level": sub.level[:16],
            "edition": {ns: name for name, ns in EDITIONS.items()}[sub.namespace],
        }
        return actions.do_sep2_subscribe(None, SOURCE, der_id, values).pk

    @on_worker_thread
    def unsubscribe(self, client: Client, der_id: int, sub_id: int) -> None:
        actions.do_sep2_unsubscribe(None, SOURCE, der_id, sub_id)

    @on_worker_thread
    def mirrors(self, client: Client) -> list[MirrorView]:
        rows = Sep2MirrorUsagePoint.objects.filter(der_id__in=client.der_ids).select_related("der")
        return [mirror_view(r) for r in rows[:RECENT]]

    @on_worker_thread
    def mirror(self, client: Client, mup_id: int) -> MirrorView | None:
        row = Sep2MirrorUsagePoint.objects.filter(pk=mup_id, der_id__in=client.der_ids).select_related("der")
        found = row.first()
        return None if found is None else mirror_view(found)

    @on_worker_thread
    def save_mirror(self, client: Client, post: MirrorPost) -> tuple[int, bool]:
        der = DER.objects.filter(lfdi=post.device_lfdi, pk__in=client.der_ids).only("pk").first()
        if der is None:
            raise Sep2Refusal(
                403, f"The mirror's deviceLFDI {post.device_lfdi} is not one of this client's devices."
            )
        mirror, made = actions.do_save_sep2_mirror(None, SOURCE, der.pk, post)
        return mirror.pk, made

    @on_worker_thread
    def post_readings(self, client: Client, mup_id: int, readings: tuple[MeterReadingPost, ...]) -> bool:
        try:
            actions.do_record_sep2_readings(None, SOURCE, mup_id, readings, der_ids=client.der_ids)
        except Sep2MirrorUsagePoint.DoesNotExist:
            return False
        return True

    @on_worker_thread
    def reading_sets(self, mup_id: int, mrid: str) -> list[ReadingSetView]:
        return sep2_mirror_rows.reading_sets(mup_id, mrid)

    @on_worker_thread
    def readings(self, mup_id: int, mrid: str, start_s: int, end_s: int) -> list[ReadingValue]:
        return sep2_mirror_rows.readings(mup_id, mrid, start_s, end_s)

    @on_worker_thread
    def delete_mirror(self, client: Client, mup_id: int) -> None:
        actions.do_delete_sep2_mirror(None, SOURCE, mup_id)

    @on_worker_thread
    def latest_setpoint_id(self) -> int:
        return SetPoint.objects.order_by("-id").values_list("id", flat=True).first() or 0

    @on_worker_thread
    def notifications_since(self, after_id: int) -> tuple[int, list[PendingNotification]]:
        """Subscriptions to the control lists of DERs that got a set point after `after_id`."""
        fresh = SetPoint.objects.filter(pk__gt=after_id).values_list("pk", "der_id")
        if not fresh:
            return after_id, []
        latest = max(pk for pk, _ in fresh)
        ders = {der_id for _, der_id in fresh}
        due: list[PendingNotification] = []
        controls: dict[int, list[ControlView]] = {}
        for sub in Sep2Subscription.objects.filter(der_id__in=ders):
            if sub.resource.rstrip("/") not in (f"/derp/{sub.der_id}/derc", f"/derp/{sub.der_id}/actderc"):
                continue
            if sub.der_id not in controls:  # a DER's several subscriptions share one read
                controls[sub.der_id] = self.controls(sub.der_id)
            # In list order, at most `limit` entries; limit 0: a bare change notice (results="0").
            listed = tuple(controls[sub.der_id][: sub.limit])
            due.append(PendingNotification(sub.der_id, subscription_view(sub), listed))
        return latest, due
