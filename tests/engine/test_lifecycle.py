from __future__ import annotations

from apps.der_registry.engine.lifecycle import allowed_targets, transition_problem


def test_it_allows_the_documented_path_to_active() -> None:
    assert transition_problem("pending", "approved") == ""
    assert transition_problem("approved", "active") == ""
    assert transition_problem("active", "suspended", "inverter fault") == ""
    assert transition_problem("suspended", "active") == ""


def test_it_explains_a_forbidden_transition_with_the_allowed_ones() -> None:
    problem = transition_problem("pending", "active")
    assert problem.startswith("A pending DER cannot become active.")
    assert "approve (approved)" in problem and "reject (decommissioned)" in problem


def test_it_treats_decommissioned_as_final() -> None:
    assert allowed_targets("decommissioned") == {}
    assert transition_problem("decommissioned", "active").endswith("It is final.")


def test_it_names_an_unknown_state() -> None:
    assert "'retired' is not a lifecycle state" in transition_problem("active", "retired")


def test_it_requires_a_reason_to_take_a_der_out_of_service() -> None:
    assert transition_problem("active", "suspended") == "Give a reason for making this DER suspended."
    assert transition_problem("active", "suspended", "inverter fault") == ""
    assert transition_problem("pending", "decommissioned", "  ") != ""
