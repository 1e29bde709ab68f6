"""ISA-18.2 alarm management: priorities per kind (replacing the one severity every alarm had),
acknowledgement comments, chattering, shelves, and the admin's shelving limit. Existing alarms
take their kind's default priority (apps/alarms/engine/isa182.py at the time of writing)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


DEFAULT_PRIORITY = {
    "cycle_failed": "critical", "violation": "critical", "ems_link_down": "high", "dms_silent": "high",
    "fallback": "high", "dispatch_refused": "high", "dso_shortfall": "medium", "dso_mismatch": "medium",
    "overrun": "medium", "comm_failure": "low",
}  # fmt: skip


def priority_by_kind(apps, schema_editor):  # type: ignore[no-untyped-def]
    alarm = apps.get_model("alarms", "Alarm")
    for kind, priority in DEFAULT_PRIORITY.items():
        alarm.objects.filter(kind=kind).update(priority=priority)


class Migration(migrations.Migration):
    dependencies = [
        ("alarms", "0005_cycle_link_alarms"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlarmPriority",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("comm_failure", "Communication failure"),
                            ("violation", "Limit violation"),
                            ("overrun", "Stage overrun"),
                            ("dispatch_refused", "Dispatch refused"),
                            ("dso_mismatch", "DSO interface mismatch"),
                            ("dso_shortfall", "DSO request not met"),
                            ("cycle_failed", "Cycle failed"),
                            ("ems_link_down", "EMS–DMS link down"),
                            ("dms_silent", "DMS not heard from"),
                            ("fallback", "Fallback active"),
                        ],
                        max_length=16,
                        unique=True,
                    ),
                ),
                (
                    "priority",
                    models.CharField(
                        choices=[
                            ("critical", "Critical"),
                            ("high", "High"),
                            ("medium", "Medium"),
                            ("low", "Low"),
                        ],
                        max_length=8,
                    ),
                ),
            ],
            options={
                "permissions": [("configure_alarms", "Can set alarm priorities and the shelving limit")],
            },
        ),
        migrations.CreateModel(
            name="ShelvingLimit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("limit_minutes", models.PositiveIntegerField()),
            ],
        ),
        migrations.AlterModelOptions(
            name="alarm",
            options={
                "ordering": ["-raised_at", "-id"],
                "permissions": [
                    ("acknowledge_alarm", "Can acknowledge alarms"),
                    ("shelve_alarm", "Can shelve and unshelve alarms"),
                ],
            },
        ),
        migrations.AddField(
            model_name="alarm",
            name="ack_comment",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="alarm",
            name="chattering",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="alarm",
            name="priority",
            field=models.CharField(
                choices=[("critical", "Critical"), ("high", "High"), ("medium", "Medium"), ("low", "Low")],
                default="medium",
                max_length=8,
            ),
        ),
        migrations.CreateModel(
            name="AlarmShelf",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("comm_failure", "Communication failure"),
                            ("violation", "Limit violation"),
                            ("overrun", "Stage overrun"),
                            ("dispatch_refused", "Dispatch refused"),
                            ("dso_mismatch", "DSO interface mismatch"),
                            ("dso_shortfall", "DSO request not met"),
                            ("cycle_failed", "Cycle failed"),
                            ("ems_link_down", "EMS–DMS link down"),
                            ("dms_silent", "DMS not heard from"),
                            ("fallback", "Fallback active"),
                        ],
                        max_length=16,
                    ),
                ),
                ("source_type", models.CharField(max_length=24)),
                ("source_id", models.CharField(max_length=64)),
                ("until", models.DateTimeField(blank=True, null=True)),
                ("shelved_at", models.DateTimeField(auto_now_add=True)),
                ("comment", models.CharField(blank=True, max_length=200)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("end_reason", models.CharField(blank=True, max_length=60)),
                (
                    "shelved_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("ended_at__isnull", True)),
                        fields=("kind", "source_type", "source_id"),
                        name="alarm_one_open_shelf_per_kind_and_source",
                    )
                ],
            },
        ),
        migrations.RunPython(priority_by_kind, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="alarm",
            name="severity",
        ),
    ]
