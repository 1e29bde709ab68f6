"""State changes of people and access. Each do_* owns its transaction and audit record.

People get exactly one role (a group) and nothing else: these actions never set superuser or
staff status or single permissions, so an admin cannot grant more than the admin role holds.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from crest_web.accounts import audit, throttle
from crest_web.accounts.roles import ADMIN, ROLES, role_of

AUDITED_FIELDS = ["username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"]


class AccountError(ValueError):
    """A change to a person's account that is refused, in words an admin understands; `field`
    names the form field it is about, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def user_state(user: User) -> dict[str, Any]:
    """What the audit log records of a person: names, flags and roles (never the password)."""
    return {
        **audit.snapshot(user, AUDITED_FIELDS),
        "groups": sorted(user.groups.values_list("name", flat=True)),
    }


@transaction.atomic
def do_rotate_token(user: User, source: str) -> Token:
    """Replace the user's API token; the old one stops working at once."""
    had = Token.objects.filter(user=user).delete()[0] > 0
    token = Token.objects.create(user=user)
    audit.record(
        user,
        source,
        "token.rotate" if had else "token.create",
        object_type="authtoken.token",
        object_id=str(user.pk),
        after={"user": user.get_username()},
    )
    return token


def _check_role(role: str) -> Group:
    if role not in ROLES:
        raise AccountError(f"{role!r} is not a role; choose one of {', '.join(ROLES)}.", "role")
    return Group.objects.get(name=role)


def _check_username(username: str) -> str:
    username = username.strip()
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), "username") from None
    # Case-insensitive: the sign-in lock-out and people reading the audit log see "Op1" as "op1".
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(f"There is already a user named {username!r}.", "username")
    return username


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), "password1") from None


def _locked_target(actor: User, user: User) -> User:
    """The person to change, locked for this transaction, if the actor may change them."""
    target = User.objects.select_for_update().get(pk=user.pk)
    if target.is_superuser and not actor.is_superuser:
        raise AccountError(f"{target.username} is a superuser; only a superuser may change that account.")
    return target


@transaction.atomic
def do_create_user(
    actor: User, source: str, *, username: str, role: str, password: str, **names: str
) -> User:
    """A new person with one role; `names` are first_name, last_name and email."""
    group = _check_role(role)
    user = User(username=_check_username(username), **{k: v.strip() for k, v in names.items()})
    _check_password(password, user)
    user.set_password(password)
    user.save()
    user.groups.set([group])
    audit.record(actor, source, "user.create", user, after=user_state(user))
    return user


@transaction.atomic
def do_set_role(actor: User, source: str, user: User, role: str) -> User:
    """Give a person exactly this role (any other role or group is removed)."""
    group = _check_role(role)
    target = _locked_target(actor, user)
    if target.pk == actor.pk and not actor.is_superuser and role_of(target) == ADMIN and role != ADMIN:
        raise AccountError(
            "You cannot take the admin role from yourself: you would lose access to this page. "
            "Ask another admin to do it."
        )
    before = user_state(target)
    target.groups.set([group])
    audit.record(actor, source, "user.role", target, before=before, after=user_state(target))
    return target


@transaction.atomic
def do_set_active(actor: User, source: str, user: User, active: bool) -> User:
    """Deactivate (sign-in, API token and live events stop working) or reactivate a person."""
    target = _locked_target(actor, user)
    if target.pk == actor.pk and not active:
        raise AccountError("You cannot deactivate your own account: nobody could undo it but another admin.")
    if target.is_active == active:
        return target
    before = user_state(target)
    target.is_active = active
    target.save(update_fields=["is_active"])
    action = "user.reactivate" if active else "user.deactivate"
    audit.record(actor, source, action, target, before=before, after=user_state(target))
    return target


@transaction.atomic
def do_reset_password(actor: User, source: str, user: User, password: str) -> User:
    """Set a new password (Django's password rules apply); also lifts any sign-in lock-out."""
    target = _locked_target(actor, user)
    _check_password(password, target)
    target.set_password(password)
    target.save(update_fields=["password"])
    audit.record(actor, source, "user.password_reset", target, after={"username": target.username})
    throttle.unlock(target.username)  # in Redis, not rolled back; lifting a lock early is harmless
    return target
