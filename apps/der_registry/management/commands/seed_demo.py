from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.der_registry.demo import seed_registry
from crest_web.accounts import audit
from crest_web.accounts.roles import ROLES


class Command(BaseCommand):
    help = "Create the demo users (operator, planner, admin) and demo registry; safe to re-run."

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

    @transaction.atomic
    def _users(self) -> list[tuple[str, str]]:
        user_model = get_user_model()
        created = []
        for role in ROLES:
            if user_model.objects.filter(username=role).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_user(role, password=password, is_staff=(role == "admin"))
            user.groups.add(Group.objects.get(name=role))
            audit.record(None, "cli", "user.create", user, after={"username": role, "role": role})
            created.append((role, password))
        return created
