"""The Django admin's user pages (superusers only, see admin_site.py), every change audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.forms import ModelForm
from django.http import HttpRequest

from crest_web.accounts import audit
from crest_web.accounts.actions import user_state
from crest_web.accounts.models import AuditRecord


class AuditedUserAdmin(UserAdmin):
    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        old = User.objects.filter(pk=obj.pk).first() if change else None
        request._crest_before = user_state(old) if old else None  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        before = getattr(request, "_crest_before", None)
        audit.record(
            request.user,
            "web",
            "user.update" if change else "user.create",
            user,
            before=before,
            after=user_state(user),
        )

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        audit.record(request.user, "web", "user.delete", obj, before=user_state(obj))
        super().delete_model(request, obj)


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "source", "action", "object_repr"]
    list_filter = ["source", "action"]
    search_fields = ["object_repr", "actor_name", "action"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the audit log is append-only


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
