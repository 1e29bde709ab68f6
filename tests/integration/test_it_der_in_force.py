"""The DER page says what its 2030.5 device is asked now and by whom, resolved by program primacy as
the device resolves it. Seen before: with a group control ranked above the dispatch, a DER held 4 kW
while its page showed only the dispatch's 8 kW set point — an operator could not tell why."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.der_registry import actions
from apps.der_registry.sep2_in_force import asked_now
from tests.integration.test_it_sep2_group_programs import members, post  # noqa: F401
from tests.integration.test_it_sep2_server import pki  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def asked(der: Any) -> dict[str, tuple[str, str]]:
    return {a.what: (a.value, a.by) for a in asked_now(der)}


def test_it_shows_which_program_sets_each_quantity(
    members: dict[str, Any],  # noqa: F811
    operator_client: Client,
    admin_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    sp = actions.do_issue_setpoint(
        None, "system", inside.pk, control_mode="active_reactive", q_kvar=1.5, p_limit_kw=8
    )
    before = asked(inside)
    assert before["P limit"] == ("80 % of its setMaxW", f"set point {sp.pk} (its own program, primacy 10)")
    assert before["Q"] == ("+1.5 kvar", f"set point {sp.pk} (its own program, primacy 10)")
    assert before["Connection"] == ("connected and energized", "its own default mode")

    url = f"/api/der-groups/{group.pk}/controls/"
    curtail = post(operator_client, url, {"max_lim_pct": 40, "fixed_pf": -0.95, "duration_s": 600}).json()
    # Ranked below the DER's own program (20 > 10): the set point holds every quantity it sets.
    assert asked(inside)["P limit"][1].startswith(f"set point {sp.pk}")
    post(admin_client, f"/api/der-groups/{group.pk}/primacy/", {"primacy": 5})
    now = asked(inside)
    assert now["P limit"] == ("40 % of its setMaxW", f"group north, control {curtail['id']} (primacy 5)")
    assert now["Q"] == ("power factor -0.95", f"group north, control {curtail['id']} (primacy 5)")

    page = operator_client.get(f"/ders/{inside.pk}/").content.decode()
    assert 'id="asked-now"' in page
    assert f"group north, control {curtail['id']} (primacy 5)</a>" in page
    assert f'href="/ders/groups/{group.pk}/"' in page

    post(operator_client, f"{url}{curtail['id']}/cancel/", {})
    assert asked(inside)["P limit"][1].startswith(f"set point {sp.pk}")  # back to the dispatch's
