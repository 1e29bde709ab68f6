"""API permissions: a role first; then reading needs the model's view permission, writing its
add/change permission."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request

from crest_web.accounts.roles import has_role


class RolePermission(DjangoModelPermissions):
    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not has_role(request.user):
            return False  # signed in but given no role yet: nothing, not even the schema
        if not hasattr(view, (request.method or "").lower()):
            return True  # the view has no such method: let DRF answer 405, not 403
        required = getattr(view, "required_permission", None)
        if isinstance(required, dict):  # per-method permissions of one extra action
            required = required.get(request.method or "GET")
        if required is not None:  # actions that map to one named permission, e.g. approve_der
            return bool(request.user.has_perm(required))
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return True  # views without a model (schema, health) need only a login
        return super().has_permission(request, view)
