from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User

from crest_web.accounts import throttle

LOCKED_MESSAGES = {
    "address": "Too many failed sign-in attempts for this user from this address.",
    "account": "Too many failed sign-in attempts for this user.",
}


class LockOutMessageMixin:
    """Says why a locked-out sign-in is refused; the lock-out itself is the backend's
    (crest_web/accounts/backends.py), so it holds on every sign-in path."""

    data: Any
    request: Any

    def clean(self) -> dict[str, Any]:
        lock = throttle.lock_state(self.data.get("username", ""), throttle.request_address(self.request))
        if lock:
            minutes = max(1, settings.LOGIN_LOCKOUT_S // 60)
            raise forms.ValidationError(
                f"{LOCKED_MESSAGES[lock]} Try again in {minutes} minutes "
                "or ask an administrator to reset the password.",
                code="locked",
            )
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        return cleaned


class ThrottledLoginForm(LockOutMessageMixin, AuthenticationForm):
    pass


class ThrottledAdminLoginForm(LockOutMessageMixin, AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter the user name and password of a superuser account. "
            "Everyone else signs in on the main sign-in page."
        ),
    }

    def confirm_login_allowed(self, user: User) -> None:
        AuthenticationForm.confirm_login_allowed(self, user)  # deactivated accounts
        if not user.is_superuser:
            # The same words as a wrong password: the form does not reveal which it was.
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
