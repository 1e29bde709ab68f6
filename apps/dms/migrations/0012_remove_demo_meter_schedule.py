"""The demo's stand-in substation meter (task crest.demo.meter) is gone: the plant simulator's RTU
reads the feeder head now. Beat's database scheduler keeps a schedule entry after the setting that
made it is removed, so a demo database made before would send a task no worker knows."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def forget_demo_meter(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task="crest.demo.meter").delete()


class Migration(migrations.Migration):
    dependencies = [("dms", "0011_dispatch_interval"), ("django_celery_beat", "__latest__")]
    operations = [migrations.RunPython(forget_demo_meter, migrations.RunPython.noop)]
