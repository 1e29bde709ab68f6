"""The group programs as the IEEE 2030.5 server sees them (part of `sep2_store.RegistryStore`):
which groups a device's DERs belong to, and each group's controls as plain records."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.der_registry.engine.group_controls import MAX_DURATION_S
from apps.der_registry.engine.sep2.groups import ENDED_KEPT_S, active, listed
from apps.der_registry.engine.sep2.model import GroupControlView, GroupProgramView, PendingGroupNotification
from apps.der_registry.models import DERGroup, GroupControl, Sep2Subscription
from apps.der_registry.sep2_rows import group_control_view, subscription_view

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

RECENT = 255  # list documents carry at most 255 entries (results is a UInt8)


def group_control_views(group_id: int) -> list[GroupControlView]:
    """A group's controls as plain records: only what groups.listed can keep (those not over, or
    cancelled, before the cutoff)."""
    cutoff = timezone.now() - dt.timedelta(seconds=ENDED_KEPT_S)
    rows = (
        GroupControl.objects.filter(
            group_id=group_id, start_at__gte=cutoff - dt.timedelta(seconds=MAX_DURATION_S)
        )
        .exclude(cancelled_at__lt=cutoff)
        .exclude(superseded_at__lt=cutoff)
    )
    return [group_control_view(r) for r in rows.order_by("-start_at", "-id") if r.end_at >= cutoff][:RECENT]


class GroupStore:
    """Runs on the server's worker threads, as the rest of the store (`sep2_store.on_worker_thread`
    wraps these in RegistryStore)."""

    def _group_programs(self, der_ids: tuple[int, ...]) -> list[GroupProgramView]:
        # The client's DERs are live ones (a decommissioned DER's certificate identifies no client).
        groups = DERGroup.objects.filter(ders__pk__in=der_ids)
        return [
            GroupProgramView(g.pk, g.name, g.primacy, g.default_mode, g.mode_params, g.default_changed_at)
            for g in groups.distinct().order_by("pk")
        ]

    def _group_controls(self, group_id: int) -> list[GroupControlView]:
        return group_control_views(group_id)

    def _group_control(self, group_id: int, control_id: int) -> GroupControlView | None:
        row = GroupControl.objects.filter(group_id=group_id, pk=control_id).first()
        return None if row is None else group_control_view(row)

    def _latest_group_change(self) -> dt.datetime:
        latest = GroupControl.objects.order_by("-changed_at").values_list("changed_at", flat=True).first()
        return latest or EPOCH

    def _group_notifications_since(
        self, after: dt.datetime
    ) -> tuple[dt.datetime, list[PendingGroupNotification]]:
        """Subscriptions of member devices to the control lists of groups whose controls were
        issued, cancelled or superseded after `after`."""
        fresh = list(GroupControl.objects.filter(changed_at__gt=after).values_list("group_id", "changed_at"))
        if not fresh:
            return after, []
        now, due = timezone.now(), []
        for group_id in sorted({g for g, _ in fresh}):
            views: list[GroupControlView] | None = None
            lists = {f"/gderp/{group_id}/derc": listed, f"/gderp/{group_id}/actderc": active}
            subs = Sep2Subscription.objects.filter(
                der__groups=group_id, resource__startswith=f"/gderp/{group_id}/"
            )
            for sub in subs:
                chosen = lists.get(sub.resource.rstrip("/"))
                if chosen is None:
                    continue
                views = self._group_controls(group_id) if views is None else views
                tail = sub.resource.rstrip("/").rpartition("/")[2]
                shown = tuple(chosen(views, now)[: sub.limit])
                due.append(
                    PendingGroupNotification(sub.der_id, subscription_view(sub), group_id, tail, shown)
                )
        return max(t for _, t in fresh), due
