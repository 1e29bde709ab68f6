"""Users and roles: admins list people, create them with one role, change the role, deactivate
or reactivate them and reset passwords. Views parse and call do_* actions, which audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crest_web.accounts import actions
from crest_web.accounts.models import AuditRecord
from crest_web.accounts.roles import highest_role, role_of
from crest_web.accounts.user_forms import ActiveForm, NewUserForm, PasswordForm, RoleForm, show_account_error


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # permission_required signed them in
    return request.user


@permission_required("auth.view_user", raise_exception=True)
def user_list(request: HttpRequest) -> HttpResponse:
    people = User.objects.order_by("username").prefetch_related("groups")
    rows = [(person, highest_role(g.name for g in person.groups.all())) for person in people]
    return render(request, "accounts/users.html", {"rows": rows})


@permission_required("auth.add_user", raise_exception=True)
@require_http_methods(["GET", "POST"])
def user_add(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            person = actions.do_create_user(
                _actor(request),
                "web",
                username=data["username"],
                role=data["role"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
            )
        except actions.AccountError as exc:
            show_account_error(form, exc)
        else:
            messages.success(request, f"{person.username} can now sign in as {data['role']}.")
            return redirect("user_detail", pk=person.pk)
    return render(request, "accounts/user_add.html", {"form": form}, status=400 if form.errors else 200)


def _detail_page(request: HttpRequest, person: User, status: int = 200, **bound: forms.Form) -> HttpResponse:
    role = role_of(person)
    context = {
        "person": person,
        "person_role": role,
        "role_form": bound.get("role_form") or RoleForm(initial={"role": role}),
        "active_form": bound.get("active_form"),
        "password_form": bound.get("password_form") or PasswordForm(),
        "history": AuditRecord.objects.filter(object_type="auth.user", object_id=str(person.pk))[:20],
    }
    return render(request, "accounts/user_detail.html", context, status=status)


@permission_required("auth.view_user", raise_exception=True)
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, get_object_or_404(User, pk=pk))


Change = Callable[[User, User, dict[str, Any]], str]


def _change(
    request: HttpRequest, pk: int, form_class: type[forms.Form], key: str, change: Change
) -> HttpResponse:
    """Validate one of the detail page's forms and apply it; refusals show on that page."""
    person = get_object_or_404(User, pk=pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            done = change(_actor(request), person, form.cleaned_data)
        except actions.AccountError as exc:
            show_account_error(form, exc)
        else:
            messages.success(request, done)
            return redirect("user_detail", pk=pk)
    return _detail_page(request, person, status=400, **{key: form})


def _set_role(actor: User, person: User, data: dict[str, Any]) -> str:
    actions.do_set_role(actor, "web", person, data["role"])
    return f"{person.username} is now {data['role']}."


def _set_active(actor: User, person: User, data: dict[str, Any]) -> str:
    actions.do_set_active(actor, "web", person, data["active"])
    return f"{person.username} is {'active' if data['active'] else 'deactivated'}."


def _reset_password(actor: User, person: User, data: dict[str, Any]) -> str:
    actions.do_reset_password(actor, "web", person, data["password1"])
    return f"New password set for {person.username}; tell them in person or by phone."


@permission_required("auth.change_user", raise_exception=True)
@require_POST
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(request, pk, RoleForm, "role_form", _set_role)


@permission_required("auth.change_user", raise_exception=True)
@require_POST
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    return _change(request, pk, ActiveForm, "active_form", _set_active)


@permission_required("auth.change_user", raise_exception=True)
@require_POST
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    response = _change(request, pk, PasswordForm, "password_form", _reset_password)
    if response.status_code == 302 and pk == _actor(request).pk:
        # A new password ends the person's other sessions; keep this one, the admin's own.
        update_session_auth_hash(request, User.objects.get(pk=pk))
    return response
