from typing import Any

from django.db import migrations, models


def curves_stay_served(apps: Any, schema_editor: Any) -> None:
    """A DER whose settings held a volt–var curve was served that curve: its default mode is volt–var."""
    der_model = apps.get_model("der_registry", "DER")
    der_model.objects.filter(mode_params__has_key="curve").update(default_mode="volt_var")


class Migration(migrations.Migration):
    dependencies = [
        ("der_registry", "0013_sep2_mirror_readings"),
    ]

    operations = [
        migrations.AddField(
            model_name="der",
            name="default_mode",
            field=models.CharField(
                blank=True,
                choices=[
                    ("constant_pf", "Constant power factor"),
                    ("volt_var", "Volt–var"),
                    ("watt_var", "Watt–var"),
                    ("constant_var", "Constant var"),
                    ("active_reactive", "Active–reactive power (CReST)"),
                ],
                default="",
                max_length=20,
            ),
        ),
        migrations.RunPython(curves_stay_served, migrations.RunPython.noop),
    ]
