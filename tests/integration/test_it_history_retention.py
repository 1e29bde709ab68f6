"""Monitoring history is kept CREST_MONITORING_KEEP_DAYS and mirrored 2030.5 readings a day, pruned
by the beat's hourly task. Seen before: nothing was ever deleted — a thousand devices polling every
20 s add about 8.6 million samples a day — and a device that stopped posting kept its mirrored
readings for good (only its own next post pruned them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.der_registry.actions import telemetry
from apps.der_registry.models import (
    LatestMonitoring,
    MonitoringSample,
    Sep2MirrorReading,
    Sep2MirrorUsagePoint,
)
from celery_tasks.registry import prune_history
from crest_web import task_names
from crest_web.accounts.models import AuditRecord

pytestmark = pytest.mark.django_db(transaction=True)
DAY_S = 86400


def test_it_prunes_old_history_every_hour_and_keeps_each_der_s_latest_value(
    enrolled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["registry-prune-history"] == {
        "task": task_names.REGISTRY_PRUNE_HISTORY,
        "schedule": 3600.0,
    }
    keep_days = settings.CREST_MONITORING_KEEP_DAYS
    silent, live = (
        enrolled("active"),
        enrolled("active", name="pv-2", serial_number="SN-0002", lfdi="A" * 40, sfdi=None),
    )
    now = timezone.now()
    old = [now - dt.timedelta(days=keep_days, hours=h) for h in (1, 2, 30)]  # past the retention
    recent = [now - dt.timedelta(days=keep_days - 1), now - dt.timedelta(minutes=5)]
    MonitoringSample.objects.bulk_create(
        [MonitoringSample(der=silent, t=t, p_kw=1.0) for t in old]
        + [MonitoringSample(der=live, t=t, p_kw=2.0) for t in [*old, *recent]]
    )
    LatestMonitoring.objects.create(der=silent, t=old[0], p_kw=1.0)  # silent for a month: still shown
    mirror = Sep2MirrorUsagePoint.objects.create(
        der=silent, mrid="AB" * 16, role_flags=0, service_category=0, status=0
    )
    now_s = int(now.timestamp())
    Sep2MirrorReading.objects.bulk_create(
        Sep2MirrorReading(mirror=mirror, mr_mrid="P", t_s=t_s, value=1)
        for t_s in (now_s - 2 * DAY_S, now_s - DAY_S - 60, now_s - DAY_S + 600, now_s - 60)
    )
    monkeypatch.setattr(telemetry, "PRUNE_BATCH", 2)  # several batches, as a large table takes

    first = prune_history.apply().get()  # the beat's task, run here
    assert first == {"samples": 6, "mirror_readings": 2}
    assert sorted(MonitoringSample.objects.values_list("der_id", "t")) == sorted((live.pk, t) for t in recent)
    assert LatestMonitoring.objects.get(der=silent).t == old[0]
    assert sorted(Sep2MirrorReading.objects.values_list("t_s", flat=True)) == [
        now_s - DAY_S + 600,
        now_s - 60,
    ]
    audit = AuditRecord.objects.get(action="registry.prune_history")
    assert (audit.actor_name, audit.source, audit.after) == (
        "system",
        "scheduler",
        {"samples": 6, "mirror_readings": 2, "keep_days": keep_days},
    )
    assert prune_history.apply().get() == {"samples": 0, "mirror_readings": 0}
    assert AuditRecord.objects.filter(action="registry.prune_history").count() == 1  # nothing went: no record
