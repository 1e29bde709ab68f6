"""A device's metering mirrors as the 2030.5 server reads them (part of `sep2_store.RegistryStore`):
the MirrorUsagePoint as a plain record, and its kept series by hour and by reading."""

from __future__ import annotations

from django.db import models
from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.der_registry.engine.sep2.mirror import (
    HOUR_S,
    READINGS_KEPT_S,
    MeterReadingView,
    MirrorView,
    ReadingSetView,
    ReadingType,
    ReadingValue,
)
from apps.der_registry.models import Sep2MirrorReading, Sep2MirrorUsagePoint


def kept(mup_id: int, mrid: str) -> QuerySet[Sep2MirrorReading]:
    """A MeterReading's series as served: the last READINGS_KEPT_S (older rows wait for the hourly prune)."""
    since_s = int(timezone.now().timestamp()) - READINGS_KEPT_S
    return Sep2MirrorReading.objects.filter(mirror_id=mup_id, mr_mrid=mrid, t_s__gte=since_s)


def mirror_view(row: Sep2MirrorUsagePoint) -> MirrorView:
    readings = tuple(
        MeterReadingView(
            mrid,
            str(mr.get("description", "")),
            ReadingType(mr["uom"], mr["power_of_ten"], mr["flow_direction"], mr["phase"]),
            mr.get("last_update_s"),
            mr.get("last_value"),
            mr.get("index", 0),
        )
        for mrid, mr in sorted(row.meter_readings.items())
    )
    return MirrorView(
        row.pk,
        row.mrid,
        row.der.lfdi,
        row.role_flags,
        row.service_category,
        row.status,
        row.description,
        row.post_rate,
        readings,
    )


def reading_sets(mup_id: int, mrid: str) -> list[ReadingSetView]:
    hours = (
        kept(mup_id, mrid)
        .annotate(hour=models.F("t_s") / HOUR_S)
        .values("hour")
        .annotate(count=Count("id"))
        .values_list("hour", "count")
    )
    return [ReadingSetView(hour, count) for hour, count in hours]


def readings(mup_id: int, mrid: str, start_s: int, end_s: int) -> list[ReadingValue]:
    rows = kept(mup_id, mrid).filter(t_s__gte=start_s, t_s__lt=end_s)
    values = rows.values_list("value", "t_s", "quality_flags").order_by("t_s")
    return [ReadingValue(value, t_s, flags) for value, t_s, flags in values]
