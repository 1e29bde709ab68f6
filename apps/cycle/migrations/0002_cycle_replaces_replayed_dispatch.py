"""The coordination cycle drives the dispatch now: beat's old 5-minute replay of each feeder's last
dispatch would send a second set of set points every interval, so its stored schedule goes."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def drop_replay(apps: Any, schema_editor: Any) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name="dispatch-scheduled").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cycle", "0001_initial"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(drop_replay, migrations.RunPython.noop)]
