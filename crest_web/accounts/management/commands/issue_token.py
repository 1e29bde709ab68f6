from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crest_web.accounts.actions import do_rotate_token


class Command(BaseCommand):
    help = "Issue a new API token for a user (revoking the old one), e.g. for a gateway script."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"User {user.username!r} is deactivated; activate it first.")
        token = do_rotate_token(user, "cli")
        if options["json"]:
            self.stdout.write(json.dumps({"username": user.username, "token": token.key}))
        else:
            self.stdout.write(f"Token for {user.username} (the previous one no longer works):")
            self.stdout.write(token.key)
