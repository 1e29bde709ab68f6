"""Forms of the Users and roles page. They carry no superuser, staff or permission fields: what
they can express is all an admin may change (crest_web/accounts/actions.py enforces the rest)."""

from __future__ import annotations

from typing import Any

from django import forms

from crest_web.accounts.actions import AccountError
from crest_web.accounts.roles import ADMIN, OPERATOR, PLANNER

ROLE_CHOICES = [
    (OPERATOR, "Operator — runs the grid: set points, alarms, EMS runs"),
    (PLANNER, "Planner — capability studies; reads everything else"),
    (ADMIN, "Admin — registry, feeders, users and roles, audit log"),
]


def show_account_error(form: forms.Form, error: AccountError) -> None:
    """Put an action's refusal next to the field it is about, or above the form."""
    form.add_error(error.field if error.field in form.fields else None, str(error))


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)


class PasswordForm(forms.Form):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters, not a common password, not all digits, not like the user name.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class NewUserForm(PasswordForm, RoleForm):
    username = forms.CharField(label="User name", max_length=150)
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(label="E-mail", required=False)
    field_order = ["username", "first_name", "last_name", "email", "role", "password1", "password2"]


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("true", "active"), ("false", "deactivated")], coerce=lambda v: v == "true"
    )
