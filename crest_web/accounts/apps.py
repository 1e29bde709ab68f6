from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


def _ensure_roles(**_kwargs: Any) -> None:
    from crest_web.accounts.roles import ensure_roles

    ensure_roles()


class AccountsConfig(AppConfig):
    name = "crest_web.accounts"
    label = "accounts"
    verbose_name = "People, roles and audit"

    def ready(self) -> None:
        # After every migrate the three groups carry exactly the documented permission matrix.
        post_migrate.connect(_ensure_roles, dispatch_uid="crest-ensure-roles")


class CrestAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with its site open to superusers only (admin_site.py)."""

    default = False  # not this module's config for crest_web.accounts
    default_site = "crest_web.accounts.admin_site.SuperuserAdminSite"
