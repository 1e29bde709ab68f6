"""Lifecycle: pending → approved → active → suspended → decommissioned, and replacement."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.der_registry import actions
from apps.der_registry.models import DER
from tests.conftest import dnp3, make_record


def test_it_approves_and_activates_with_who_and_when(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    admin_client.post(f"/ders/{der.pk}/lifecycle/", {"target": "approved"})
    admin_client.post(f"/ders/{der.pk}/lifecycle/", {"target": "active", "reason": "commissioned"})
    der.refresh_from_db()
    assert der.status == "active"
    steps = [(e.from_status, e.to_status, e.by_name) for e in der.lifecycle.order_by("id")]
    assert steps == [
        ("", "pending", "system"),
        ("pending", "approved", "adm1"),
        ("approved", "active", "adm1"),
    ]


def test_it_refuses_to_skip_approval_and_says_what_is_allowed(admin_client: Client, enrolled: Any) -> None:
    der = enrolled()
    page = admin_client.post(f"/ders/{der.pk}/lifecycle/", {"target": "active"}, follow=True)
    assert b"A pending DER cannot become active." in page.content
    der.refresh_from_db()
    assert der.status == "pending"


def test_it_forbids_lifecycle_actions_to_an_operator(operator_client: Client, enrolled: Any) -> None:
    der = enrolled()
    assert operator_client.post(f"/ders/{der.pk}/lifecycle/", {"target": "approved"}).status_code == 403
    der.refresh_from_db()
    assert der.status == "pending"


def test_it_keeps_the_old_devices_history_when_replaced(enrolled: Any, admin_user: Any) -> None:
    old = enrolled("active")
    actions.do_issue_setpoint(admin_user, "web", old.pk, control_mode="active_reactive", q_kvar=2.0)
    # The new inverter takes over the old one's 2030.5 certificate identity.
    new = actions.do_replace_der(
        admin_user, "web", old.pk, make_record(name="pv-675-b", serial_number="SN-0002")
    )
    old.refresh_from_db()
    assert old.status == "decommissioned" and new.replaces_id == old.pk
    assert [d.name for d in new.lineage()] == ["pv-675-b", "pv-675-a"]
    assert old.setpoints.count() == 1  # history stays with the old device, reachable from new


def test_it_refuses_to_replace_a_decommissioned_device(enrolled: Any) -> None:
    der = enrolled()
    actions.do_transition_der(None, "system", der.pk, "decommissioned", "removed from site")
    with pytest.raises(actions.RegistryError, match="already decommissioned"):
        actions.do_replace_der(None, "system", der.pk, make_record(name="x", serial_number="y"))
    assert DER.objects.count() == 1


def test_it_uses_configuration_only_after_both_agree(admin_client: Client, enrolled: Any) -> None:
    from dataclasses import replace

    base = make_record()
    der = enrolled(configuration=replace(base.configuration, active_power_kw=8.0))
    assert der.effective()["active_power_kw"].value == 10.0
    admin_client.post(f"/ders/{der.pk}/agree/", {"party": "operator"})
    der.refresh_from_db()
    assert der.effective()["active_power_kw"].source == "nameplate"
    admin_client.post(f"/ders/{der.pk}/agree/", {"party": "utility"})
    der.refresh_from_db()
    assert (der.effective()["active_power_kw"].value, der.cfg_agreed_at is not None) == (8.0, True)
    page = admin_client.get(f"/ders/{der.pk}/")
    assert b"configuration" in page.content


def test_it_asks_for_a_reason_before_decommissioning(admin_client: Client, enrolled: Any) -> None:
    der = enrolled("active")
    page = admin_client.post(f"/ders/{der.pk}/lifecycle/", {"target": "decommissioned"}, follow=True)
    assert b"Give a reason for making this DER decommissioned." in page.content
    admin_client.post(f"/ders/{der.pk}/lifecycle/", {"target": "decommissioned", "reason": "site closed"})
    der.refresh_from_db()
    assert der.status == "decommissioned"
    assert der.lifecycle.first().reason == "site closed"  # type: ignore[union-attr]


def test_it_shows_agreement_controls_only_for_pending_overrides(admin_client: Client, enrolled: Any) -> None:
    from dataclasses import replace

    plain = enrolled()
    assert b"Record utility agreement" not in admin_client.get(f"/ders/{plain.pk}/").content
    configured = enrolled(
        name="pv-cfg",
        serial_number="SN-CFG",
        **dnp3(3, host="10.9.9.9"),
        configuration=replace(make_record().configuration, active_power_kw=9.0),
    )
    page = admin_client.get(f"/ders/{configured.pk}/").content
    assert b"Record utility agreement" in page and b"not in effect" in page


def test_it_hides_the_audit_trail_from_operators(
    operator_client: Client, admin_client: Client, enrolled: Any
) -> None:
    der = enrolled()
    assert b"<h2>Audit</h2>" not in operator_client.get(f"/ders/{der.pk}/").content
    assert b"<h2>Audit</h2>" in admin_client.get(f"/ders/{der.pk}/").content
