"""Forms of the group page: the group program's primacy (admin) and a group control (operator).
The form only collects; `engine/group_controls.py` decides what may be issued."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.der_registry.engine import group_controls as gc
from apps.der_registry.engine.ieee1547 import Issue

LEAVE = [("", "Leave as it is")]


class PrimacyForm(forms.Form):
    primacy = forms.CharField(label="Primacy (0–255, lower takes precedence)", max_length=8)


class GroupControlForm(forms.Form):
    description = forms.CharField(required=False, max_length=64, label="Description (shown to devices)")
    connect = forms.ChoiceField(
        choices=[*LEAVE, ("true", "Connect"), ("false", "Disconnect")], required=False
    )
    energize = forms.ChoiceField(
        choices=[*LEAVE, ("true", "Energize"), ("false", "Cease to energize")], required=False
    )
    max_lim_pct = forms.CharField(required=False, label="P limit (% of each device's setMaxW)", max_length=16)
    target_w_kw = forms.CharField(
        required=False, label="P target (kW for each device; alike devices only)", max_length=16
    )
    fixed_var_pct = forms.CharField(
        required=False, label="Fixed Q (% of setMaxVar, + = injected)", max_length=16
    )
    fixed_pf = forms.CharField(
        required=False, label="Power factor (− = absorbing vars; or a fixed Q, not both)", max_length=16
    )
    ramp_s = forms.CharField(required=False, label=f"Ramp time (s, up to {gc.MAX_RAMP_S:g})", max_length=16)
    start_at = forms.CharField(
        required=False,
        label="Start (UTC; empty = now)",
        max_length=40,
        widget=forms.TextInput(attrs={"placeholder": "2026-12-07T14:30"}),
    )
    duration_min = forms.CharField(label="Duration (minutes)", max_length=16)
    randomize_start_s = forms.CharField(required=False, label="Randomize start (s, 0–3600)", max_length=8)
    randomize_duration_s = forms.CharField(
        required=False, label="Randomize duration (s, 0–3600)", max_length=8
    )

    def values(self) -> dict[str, Any]:
        """What the engine checks: the typed text, the duration in seconds."""
        data = dict(self.cleaned_data)
        minutes = str(data.pop("duration_min", "")).strip()
        try:
            seconds: object = round(float(minutes) * 60, 6)
        except ValueError:
            seconds = minutes
        if isinstance(seconds, float) and seconds.is_integer():
            seconds = int(seconds)
        return {**data, "duration_s": seconds}

    def add_issues(self, issues: list[Issue]) -> None:
        for issue in issues:
            name = "duration_min" if issue.field == "duration_s" else issue.field
            message = issue.message
            if name == "duration_min":  # the operator typed minutes
                message = f"Give a duration from 1 second to {gc.MAX_DURATION_S // 86400} days, in minutes."
            self.add_error(name if name in self.fields else None, message)
