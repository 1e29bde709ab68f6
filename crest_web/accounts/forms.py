from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from crest_web.accounts import throttle


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


class ThrottledLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": (
            "Too many failed sign-in attempts for this user from this address. "
            "Try again in %(minutes)d minutes or ask an administrator to reset the password."
        ),
    }

    def clean(self) -> dict[str, Any]:
        from django.conf import settings

        username = self.data.get("username", "")
        ip = client_ip(self.request)
        if throttle.is_locked(username, ip):
            raise forms.ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_S // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.note_failure(username, ip)
            raise
        throttle.clear(username, ip)
        return cleaned
