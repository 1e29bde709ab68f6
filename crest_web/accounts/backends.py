"""The one authentication backend: Django's, behind the sign-in lock-out. Every sign-in path —
the site's form, /admin/login/, anything calling authenticate() — counts and is refused here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from crest_web.accounts import throttle


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.pop(get_user_model().USERNAME_FIELD, None)
        if username is None or password is None:
            return None  # not a password sign-in
        address = throttle.request_address(request)
        if throttle.lock_state(username, address):
            raise PermissionDenied  # authenticate() then tries no other backend
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            throttle.note_failure(username, address)
        else:
            throttle.clear(username, address)
        return user
