"""The demo's stand-in telemetry and confirmations (tasks crest.demo.telemetry, crest.demo.acknowledge)
are gone: every live demo DER now answers through the plant simulator over DNP3 or IEEE 2030.5. Beat's
database scheduler keeps a schedule entry after the setting that made it is removed, so a demo
database made before would send tasks no worker knows."""

from __future__ import annotations

from typing import Any

from django.db import migrations

GONE = ("crest.demo.telemetry", "crest.demo.acknowledge")


def forget_demo_playback(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task__in=GONE).delete()


class Migration(migrations.Migration):
    dependencies = [("der_registry", "0008_setpoint_dispatch_run"), ("django_celery_beat", "__latest__")]
    operations = [migrations.RunPython(forget_demo_playback, migrations.RunPython.noop)]
