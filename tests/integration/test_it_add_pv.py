"""add_pv populates a feeder with active single-phase PV DERs the paper's way."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.der_registry.models import DER


def test_it_adds_about_a_hundred_single_phase_pv_units(ieee13: Any) -> None:
    out = io.StringIO()
    call_command(
        "add_pv",
        "ieee13",
        "--penetration",
        "0.9",
        "--count",
        "100",
        "--oversize",
        "1.1",
        "--seed",
        "7",
        "--json",
        stdout=out,
    )
    doc = json.loads(out.getvalue())
    ders = DER.objects.filter(feeder__name="ieee13")
    assert 90 <= doc["count"] == ders.count() <= 110
    assert set(ders.values_list("status", flat=True)) == {"active"}
    assert all(len(d.phases) == 1 for d in ders)
    assert abs(doc["inverter_kva"] - 1.1 * doc["pv_kw"]) < 0.01 * doc["pv_kw"]
    assert len({d.phases[0] for d in ders}) == 3  # spread over all phases


def test_it_refuses_to_add_the_same_units_twice_and_bad_arguments(ieee13: Any) -> None:
    call_command("add_pv", "ieee13", "--count", "10", "--seed", "1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already has"):
        call_command("add_pv", "ieee13", "--count", "10", "--seed", "1", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("add_pv", "ieee13", "--penetration", "-1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="There is no feeder named 'ghost'"):
        call_command("add_pv", "ghost", stdout=io.StringIO())
    assert DER.objects.count() == 10
