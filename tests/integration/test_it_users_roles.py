"""Users and roles: admins create people with one role, change it, deactivate, reset passwords —
audited, never granting superuser, staff or single permissions. /admin/ is for superusers only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from crest_web.accounts.models import AuditRecord
from tests.conftest import client_for

NEW = {
    "username": "op2",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.org",
    "role": "operator",
    "password1": "Kettle-Harbour-42",
    "password2": "Kettle-Harbour-42",
}


def page(response: Any) -> str:
    return str(response.content.decode())


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", password="root-Password-123")


# --- The Django admin is for superusers only --------------------------------------------------


def test_it_keeps_an_admin_by_role_from_making_themselves_superuser_in_the_admin(admin_user: User) -> None:
    admin_user.is_staff = True  # as seed_demo used to make the demo admin
    admin_user.save()
    client = client_for(admin_user)
    response = client.post(
        f"/admin/auth/user/{admin_user.pk}/change/",
        {
            "username": "adm1",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
        follow=True,
    )
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    assert response.status_code == 403
    assert "for superusers only" in page(client.get("/admin/", follow=True))


def test_it_opens_the_admin_to_a_superuser(superuser: User) -> None:
    assert client_for(superuser).get("/admin/auth/user/").status_code == 200


def test_it_seeds_demo_users_with_their_role_and_no_staff_status(db: None) -> None:
    from apps.der_registry.management.commands.seed_demo import Command

    assert {name for name, _ in Command()._users()} == {"operator", "planner", "admin"}
    demo_admin = User.objects.get(username="admin")
    assert not (demo_admin.is_staff or demo_admin.is_superuser)
    assert client_for(demo_admin).get("/ems/dsos/").status_code == 200  # the role is enough


# --- Users and roles page ---------------------------------------------------------------------


def test_it_lists_people_with_their_role_and_state_for_admins_only(
    admin_client: Client, operator: User, planner: User, outsider: User
) -> None:
    outsider.is_active = False
    outsider.save()
    listing = page(admin_client.get("/users/"))
    assert 'href="/users/"' in listing  # the nav link
    for name, role in [("op1", "operator"), ("plan1", "planner"), ("adm1", "admin"), ("nobody", "no role")]:
        assert f'data-user="{name}"' in listing and role in listing
    assert "deactivated" in listing
    assert client_for(operator).get("/users/").status_code == 403
    assert 'href="/users/"' not in page(client_for(operator).get("/"))


def test_it_creates_a_user_with_exactly_one_role_audited(admin_client: Client, admin_user: User) -> None:
    assert admin_client.get("/users/add/").status_code == 200
    smuggled = {"is_superuser": "on", "is_staff": "on", "user_permissions": "1", "groups": "3"}
    response = admin_client.post("/users/add/", {**NEW, **smuggled})
    user = User.objects.get(username="op2")
    assert response.status_code == 302 and response["Location"] == f"/users/{user.pk}/"
    assert list(user.groups.values_list("name", flat=True)) == ["operator"]
    assert not (user.is_superuser or user.is_staff or user.user_permissions.exists())
    assert user.check_password("Kettle-Harbour-42") and user.email == "ada@example.org"
    record = AuditRecord.objects.get(action="user.create")
    assert record.after is not None
    assert record.actor == admin_user and record.after["groups"] == ["operator"]
    assert "Kettle" not in str(record.after)
    assert "can now sign in as operator" in page(admin_client.get(response["Location"]))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"username": "op1"}, "There is already a user named"),
        ({"username": "OP1"}, "There is already a user named"),
        ({"username": "bad name!"}, "Enter a valid username"),
        ({"role": "superuser"}, "Select a valid choice"),
        ({"password1": "short", "password2": "short"}, "too short"),
        ({"password2": "Kettle-Harbour-43"}, "The two passwords differ"),
    ],
)
def test_it_explains_bad_input_and_creates_nobody(
    admin_client: Client, operator: User, bad: dict[str, str], words: str
) -> None:
    response = admin_client.post("/users/add/", {**NEW, **bad})
    assert response.status_code == 400 and words in page(response)
    assert User.objects.count() == 2  # adm1 and op1
    assert not AuditRecord.objects.filter(action="user.create").exists()


def test_it_changes_a_role_audited_before_and_after(
    admin_client: Client, admin_user: User, operator: User
) -> None:
    response = admin_client.post(f"/users/{operator.pk}/role/", {"role": "planner"})
    assert response.status_code == 302
    assert list(operator.groups.values_list("name", flat=True)) == ["planner"]
    record = AuditRecord.objects.get(action="user.role")
    assert record.actor == admin_user
    assert ("groups", ["operator"], ["planner"]) in record.changed_fields()


def test_it_deactivates_and_reactivates_a_user(admin_client: Client, operator: User) -> None:
    admin_client.post(f"/users/{operator.pk}/active/", {"active": "false"})
    operator.refresh_from_db()
    assert not operator.is_active
    refused = Client().post("/login/", {"username": "op1", "password": "op1-Password-123"})
    assert refused.status_code == 200
    admin_client.post(f"/users/{operator.pk}/active/", {"active": "true"})
    operator.refresh_from_db()
    assert operator.is_active
    actions = list(AuditRecord.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["user.deactivate", "user.reactivate"]


def test_it_refuses_an_admin_locking_themselves_out(admin_client: Client, admin_user: User) -> None:
    demote = admin_client.post(f"/users/{admin_user.pk}/role/", {"role": "operator"})
    assert "You cannot take the admin role from yourself" in page(demote)
    deactivate = admin_client.post(f"/users/{admin_user.pk}/active/", {"active": "false"})
    assert "You cannot deactivate your own account" in page(deactivate)
    admin_user.refresh_from_db()
    assert admin_user.is_active and list(admin_user.groups.values_list("name", flat=True)) == ["admin"]
    assert not AuditRecord.objects.exists()


def test_it_resets_a_password_following_the_password_rules(admin_client: Client, operator: User) -> None:
    weak = admin_client.post(f"/users/{operator.pk}/password/", {"password1": "op1", "password2": "op1"})
    assert weak.status_code == 400 and "too short" in page(weak)
    operator.refresh_from_db()
    assert operator.check_password("op1-Password-123")
    good = {"password1": "Lantern-Orchard-77", "password2": "Lantern-Orchard-77"}
    assert admin_client.post(f"/users/{operator.pk}/password/", good).status_code == 302
    operator.refresh_from_db()
    assert operator.check_password("Lantern-Orchard-77")
    record = AuditRecord.objects.get(action="user.password_reset")
    assert "Lantern" not in str(record.after) and record.object_id == str(operator.pk)


def test_it_keeps_an_admin_by_role_from_taking_over_a_superuser(
    admin_client: Client, superuser: User
) -> None:
    good = {"password1": "Lantern-Orchard-77", "password2": "Lantern-Orchard-77"}
    response = admin_client.post(f"/users/{superuser.pk}/password/", good)
    assert "only a superuser may change" in page(response)
    superuser.refresh_from_db()
    assert superuser.check_password("root-Password-123")
    admin_client.post(f"/users/{superuser.pk}/active/", {"active": "false"})
    superuser.refresh_from_db()
    assert superuser.is_active


def test_it_offers_no_way_to_grant_single_permissions(admin_client: Client, operator: User) -> None:
    perm = Permission.objects.get(codename="approve_der")
    admin_client.post(f"/users/{operator.pk}/role/", {"role": "operator", "user_permissions": [perm.pk]})
    assert not operator.user_permissions.exists() and not operator.has_perm("der_registry.approve_der")


def test_it_lets_an_admin_reset_their_own_password_and_stay_signed_in(
    admin_client: Client, admin_user: User
) -> None:
    good = {"password1": "Lantern-Orchard-77", "password2": "Lantern-Orchard-77"}
    admin_client.post(f"/users/{admin_user.pk}/password/", good)
    assert admin_client.get("/users/").status_code == 200
