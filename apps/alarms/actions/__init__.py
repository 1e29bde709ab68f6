"""Every state change of alarms (ISA-18.2 states, apps/alarms/engine/isa182.py): raised, cleared,
acknowledged (with a comment), shelved and unshelved; and the admin's alarm philosophy (priorities
per kind, the shelving limit). Each do_* owns its transaction, writes the audit record and publishes
on topic "alarms" after commit.

Split by subject; everything public is importable from here."""

from apps.alarms.actions.core import (
    MAX_COMMENT,
    AlarmError,
    do_acknowledge_alarm,
    do_acknowledge_alarms,
    do_clear_alarm,
    do_raise_alarm,
    do_suppress_alarms,
    do_unsuppress_alarms,
    priority_of,
)
from apps.alarms.actions.maintenance import do_return_to_service, do_take_out_of_service
from apps.alarms.actions.philosophy import do_set_alarm_priority, do_set_shelf_limit
from apps.alarms.actions.shelving import (
    do_expire_shelves,
    do_shelve_alarm,
    do_unshelve_alarm,
    shelf_limit_minutes,
)

__all__ = [
    "MAX_COMMENT",
    "AlarmError",
    "do_acknowledge_alarm",
    "do_acknowledge_alarms",
    "do_clear_alarm",
    "do_expire_shelves",
    "do_raise_alarm",
    "do_return_to_service",
    "do_set_alarm_priority",
    "do_set_shelf_limit",
    "do_shelve_alarm",
    "do_suppress_alarms",
    "do_take_out_of_service",
    "do_unshelve_alarm",
    "do_unsuppress_alarms",
    "priority_of",
    "shelf_limit_minutes",
]
