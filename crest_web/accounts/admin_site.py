"""The Django admin, for superusers only. Role admins manage people on *Users and roles*
(crest_web/accounts/user_views.py), which cannot grant superuser status or single permissions;
an admin with is_staff could otherwise tick *Superuser status*, also on their own account."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from crest_web.accounts.forms import ThrottledAdminLoginForm


class SuperuserAdminSite(admin.AdminSite):
    site_header = "CReST Control Room administration"
    login_form = ThrottledAdminLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Signed in but no superuser: say so (403) instead of offering another sign-in.
        if request.user.is_authenticated and not self.has_permission(request):
            return render(request, "accounts/admin_superusers_only.html", status=403)
        return super().login(request, extra_context)
