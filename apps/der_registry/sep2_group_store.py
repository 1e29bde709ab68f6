"""The group programs as the IEEE 2030.5 server sees them (part of `sep2_store.RegistryStore`):
which groups a device's DERs belong to, and each group's controls as plain records."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.der_registry.engine.group_controls import MAX_DURATION_S
from apps.der_registry.engine.sep2.groups import ENDED_KEPT_S
from apps.der_registry.engine.sep2.model import GroupControlView, GroupProgramView
from apps.der_registry.models import DERGroup, GroupControl

RECENT = 255  # list documents carry at most 255 entries (results is a UInt8)


def control_view(row: GroupControl) -> GroupControlView:
    return GroupControlView(
        row.pk, row.group_id, row.created_at, row.request(), row.cancelled_at, row.superseded_at
    )


class GroupStore:
    """Runs on the server's worker threads, as the rest of the store (`sep2_store.on_worker_thread`
    wraps these in RegistryStore)."""

    def _group_programs(self, der_ids: tuple[int, ...]) -> list[GroupProgramView]:
        # The client's DERs are live ones (a decommissioned DER's certificate identifies no client).
        groups = DERGroup.objects.filter(ders__pk__in=der_ids)
        return [GroupProgramView(g.pk, g.name, g.primacy) for g in groups.distinct().order_by("pk")]

    def _group_controls(self, group_id: int) -> list[GroupControlView]:
        # Only what groups.listed can keep: those not over (or cancelled) before the cutoff.
        cutoff = timezone.now() - dt.timedelta(seconds=ENDED_KEPT_S)
        rows = (
            GroupControl.objects.filter(
                group_id=group_id, start_at__gte=cutoff - dt.timedelta(seconds=MAX_DURATION_S)
            )
            .exclude(cancelled_at__lt=cutoff)
            .exclude(superseded_at__lt=cutoff)
        )
        return [control_view(r) for r in rows.order_by("-start_at", "-id") if r.end_at >= cutoff][:RECENT]

    def _group_control(self, group_id: int, control_id: int) -> GroupControlView | None:
        row = GroupControl.objects.filter(group_id=group_id, pk=control_id).first()
        return None if row is None else control_view(row)
