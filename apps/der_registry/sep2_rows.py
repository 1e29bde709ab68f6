"""Registry rows as the 2030.5 server's plain records (`engine/sep2/model.py`), where more than one
part of the store reads them."""

from __future__ import annotations

from apps.der_registry.engine.sep2.editions import EDITIONS
from apps.der_registry.engine.sep2.model import GroupControlView, SubscriptionView
from apps.der_registry.models import GroupControl, Sep2Subscription


def subscription_view(row: Sep2Subscription) -> SubscriptionView:
    return SubscriptionView(
        row.pk, row.resource, row.notification_uri, row.limit, row.encoding, row.level, EDITIONS[row.edition]
    )


def group_control_view(row: GroupControl) -> GroupControlView:
    return GroupControlView(
        row.pk, row.group_id, row.created_at, row.request(), row.cancelled_at, row.superseded_at
    )
