from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from apps.der_registry.demo import connect_field, seed_registry
from apps.der_registry.demo_ckt5 import seed_ckt5
from apps.ems.demo import seed_dso_endpoints
from crest_web.accounts import audit
from crest_web.accounts.roles import ROLES


class Command(BaseCommand):
    help = (
        "Create the demo users (operator, planner, admin) and demo registry, and point its DNP3 and "
        "IEEE 2030.5 DERs at the field simulator's devices; safe to re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sep2-certs",
            type=Path,
            default=Path(settings.BASE_DIR) / ".data" / "sep2",
            help="folder of the demo 2030.5 CA, server and device certificates (made when missing)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        created = self._users()
        if created:
            self.stdout.write("Demo users created — these passwords are shown only once:")
            for name, password in created:
                self.stdout.write(f"    {name:<9} {password}")
        else:
            self.stdout.write(
                "Demo users exist (passwords were printed on the first run; "
                "reset one with: .venv/bin/python manage.py changepassword NAME)"
            )
        count = seed_registry()
        self.stdout.write(
            f"Demo registry: {count} DERs created." if count else "Demo registry exists; left as it is."
        )
        made = seed_ckt5()
        self.stdout.write(
            f"EPRI ckt5: {made} rooftop PV units enrolled behind the aggregator."
            if made
            else "EPRI ckt5 and its rooftop PV exist; left as they are."
        )
        if seed_dso_endpoints():
            self.stdout.write("EMS link: the DSO at case9 bus 5 is the ieee123 DMS on 127.0.0.1:20500.")
        field = connect_field(options["sep2_certs"])
        self.stdout.write(
            f"Field devices: {field['dnp3']} DNP3 DERs, {field['sep2']} IEEE 2030.5 DERs and "
            f"{field['aggregated']} behind the aggregator point at the field simulator "
            f"({field['changed']} repointed)."
        )

    @transaction.atomic
    def _users(self) -> list[tuple[str, str]]:
        user_model = get_user_model()
        created = []
        for role in ROLES:
            if user_model.objects.filter(username=role).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_user(role, password=password)
            user.groups.add(Group.objects.get(name=role))
            audit.record(None, "cli", "user.create", user, after={"username": role, "role": role})
            created.append((role, password))
        return created
