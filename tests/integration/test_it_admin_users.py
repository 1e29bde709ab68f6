"""Superusers may also manage users in /admin/; each change is audited. Scripts get tokens from the CLI."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from crest_web.accounts.models import AuditRecord


def test_it_audits_a_role_change_made_in_the_admin(admin_user: User, operator: User) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    planner = Group.objects.get(name="planner")
    response = client.post(
        f"/admin/auth/user/{operator.pk}/change/",
        {
            "username": "op1",
            "is_active": "on",
            "groups": [planner.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    record = AuditRecord.objects.get(action="user.update")
    assert record.actor_name == "adm1"
    assert ("groups", ["operator"], ["planner"]) in record.changed_fields()


def test_it_keeps_the_audit_log_append_only_in_the_admin(admin_user: User) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    record = AuditRecord.objects.create(actor_name="x", source="web", action="a", object_type="t")
    assert client.post(f"/admin/accounts/auditrecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditRecord.objects.filter(pk=record.pk).exists()


def test_it_issues_a_token_from_the_command_line(operator: User) -> None:
    out = StringIO()
    call_command("issue_token", "op1", "--json", stdout=out)
    assert json.loads(out.getvalue())["token"] == Token.objects.get(user=operator).key
    assert AuditRecord.objects.filter(action="token.create", source="cli").exists()


@pytest.mark.django_db
def test_it_names_an_unknown_user_on_the_command_line() -> None:
    with pytest.raises(CommandError, match="There is no user named 'ghost'"):
        call_command("issue_token", "ghost")
