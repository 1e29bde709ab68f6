"""A group program's DefaultDERControl (issue #16 item 7: "DERPrograms by primacy with
DefaultDERControl per program"). An admin gives a group — a microgrid, an aggregator's fleet — a
default mode; each member's device finds it by the links of the group's program, with its curve,
and follows it where the group's program ranks above the member's own (the reference client's rule:
the default of the first program by primacy that has one). Seen before: a group program could carry
no default at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.der_registry.engine.curves import VOLT_VAR_1547_B
from apps.der_registry.models import DERGroup
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json
from tests.integration.test_it_sep2_default_mode import local, q
from tests.integration.test_it_sep2_group_programs import members, post  # noqa: F401
from tests.integration.test_it_sep2_server import Pki, connect, pki, run, server, valid_get  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def group_program_defaults(url: str, who: Pki, der_id: int) -> dict[str, Any]:
    """What a member's device reads of each of its programs' defaults, by the links only."""

    async def session() -> dict[str, Any]:
        conn = connect(url, who.ca, who.device)
        fsas = (await valid_get(conn, f"/edev/{der_id}/fsa?l=10")).doc().findall(q("FunctionSetAssignments"))
        seen: dict[str, Any] = {}
        for fsa in fsas:
            plist = await valid_get(conn, fsa.find(q("DERProgramListLink")).attrib["href"])
            program = plist.doc().find(q("DERProgram"))
            entry: dict[str, Any] = {"primacy": int(program.findtext(q("primacy")))}
            link = program.find(q("DefaultDERControlLink"))
            if link is not None:
                default = (await valid_get(conn, link.attrib["href"])).doc()
                base = default.find(q("DERControlBase"))
                entry["mrid"] = default.findtext(q("mRID"))
                entry["base"] = [local(c.tag) for c in base]
                for curve_link in [c for c in base if local(c.tag) in ("opModVoltVar", "opModWattVar")]:
                    curve = (await valid_get(conn, curve_link.attrib["href"])).doc()
                    entry["curve_href"] = curve.attrib["href"]
                    entry["curve_mrid"] = curve.findtext(q("mRID"))
                    entry["curve"] = [
                        (int(d.findtext(q("xvalue"))) // 100, int(d.findtext(q("yvalue"))) // 100)
                        for d in curve.iter(q("CurveData"))
                    ]
                listed = await valid_get(conn, program.find(q("DERCurveListLink")).attrib["href"] + "?l=10")
                entry["listed"] = int(listed.doc().attrib["all"])
            seen[program.attrib["href"]] = entry
        seen["group_dderc"] = (
            await conn.get(f"{next(h for h in seen if h.startswith('/gderp/'))}/dderc")
        ).status
        await conn.close()
        return seen

    result: dict[str, Any] = run(session())
    return result


def test_it_serves_a_group_default_with_its_curve_by_the_links(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],  # noqa: F811
    admin_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    own_curve = {"default_mode": "volt_var", "mode_params": {"curve": [[0.9, 0.4], [1.1, -0.4]]}}
    assert post(admin_client, f"/api/ders/{inside.pk}/default-mode/", own_curve).status_code == 200
    gp = f"/gderp/{group.pk}"
    before = group_program_defaults(server, pki, inside.pk)
    assert "mrid" not in before[gp] and before["group_dderc"] == 404  # none set: no link, nothing there

    curve = [list(p) for p in VOLT_VAR_1547_B]
    answer = post(
        admin_client,
        f"/api/der-groups/{group.pk}/default-mode/",
        {"default_mode": "volt_var", "mode_params": {"curve": curve}},
    )
    assert answer.status_code == 200, answer.content
    assert as_json(answer)["default_mode"] == "volt_var"
    seen = group_program_defaults(server, pki, inside.pk)
    assert seen[gp]["base"] == ["opModConnect", "opModEnergize", "opModVoltVar"]
    assert seen[gp]["curve"] == [(92, 44), (98, 0), (102, 0), (108, -44)] and seen[gp]["listed"] == 1
    assert seen[gp]["curve_href"] == f"{gp}/dc/1"
    own = seen[f"/derp/{inside.pk}"]
    assert own["curve"] == [(90, 40), (110, -40)]  # each program its own default and curve …
    assert own["mrid"] != seen[gp]["mrid"] and own["curve_mrid"] != seen[gp]["curve_mrid"]  # … and mRIDs

    taken_away = post(admin_client, f"/api/der-groups/{group.pk}/default-mode/", {"default_mode": ""})
    assert taken_away.status_code == 200
    assert group_program_defaults(server, pki, inside.pk)["group_dderc"] == 404
    changes = AuditRecord.objects.filter(action="dergroup.default_mode").order_by("at")
    assert [r.after["default_mode"] for r in changes] == ["volt_var", ""]


def test_it_refuses_a_group_default_a_member_cannot_follow_and_keeps_the_one_it_has(
    members: dict[str, Any],  # noqa: F811
    admin_client: Client,
    operator_client: Client,
    enrolled: Callable[..., Any],
) -> None:
    group = members["group"]
    url = f"/api/der-groups/{group.pk}/default-mode/"
    assert (
        post(admin_client, url, {"default_mode": "constant_var", "mode_params": {"q_kvar": 1.0}}).status_code
        == 400
    )
    small = enrolled(
        "active",
        name="pv-small",
        serial_number="SN-S",
        lfdi="CD" * 20,
        sfdi=None,
        supported_modes=("active_reactive", "constant_pf"),
    )
    cases = [
        # A mode one member lacks (the fixture's DERs: active–reactive and volt–var only).
        ({"default_mode": "constant_pf", "mode_params": {"pf": 0.95}}, "Not every member can follow"),
        (
            {"default_mode": "volt_var", "mode_params": {"curve": [[0.95, -0.3], [1.05, 0.3]]}},
            "rises from -0.3 to 0.3",
        ),
        ({"default_mode": "warp", "mode_params": {}}, "is not a control mode"),
        ({"default_mode": "volt_var", "mode_params": ["0.9"]}, "are an object"),
    ]
    small.groups.add(group)
    for body, words in cases:
        answer = post(admin_client, url, body)
        assert answer.status_code == 400 and words in answer.content.decode(), (body, answer.content)
    assert (
        "pv-small (no volt–var mode)"
        in post(admin_client, url, {"default_mode": "volt_var"}).content.decode()
    )
    assert post(operator_client, url, {"default_mode": ""}).status_code == 403
    group.refresh_from_db()
    assert (group.default_mode, group.mode_params) == ("", {})
    assert not AuditRecord.objects.filter(action="dergroup.default_mode").exists()


def test_it_sets_the_group_default_from_the_group_page(
    members: dict[str, Any],  # noqa: F811
    admin_client: Client,
    operator_client: Client,
) -> None:
    group = members["group"]
    page = f"/ders/groups/{group.pk}/default-mode/"
    rising = admin_client.post(page, {"default_mode": "volt_var", "curve": "0.95 0; 1.05 0.3"})
    assert rising.status_code == 400
    assert "Q rises from 0 to 0.3" in rising.context["default_form"].errors["curve"][0]
    done = admin_client.post(
        page, {"default_mode": "volt_var", "curve": "0.92 0.44; 0.98 0; 1.02 0; 1.08 -0.44"}
    )
    assert done.status_code == 302
    shown = admin_client.get(f"/ders/groups/{group.pk}/").content.decode()
    assert "<strong>Volt–var</strong>, curve (0.92, 0.44) → (0.98, 0.0)" in shown
    assert "Each member's own default still applies" in shown  # primacy 20 ranks below their own 10
    DERGroup.objects.filter(pk=group.pk).update(primacy=5)
    assert (
        "It replaces each member's own default"
        in admin_client.get(f"/ders/groups/{group.pk}/").content.decode()
    )
    assert 'id="group-default-form"' not in operator_client.get(f"/ders/groups/{group.pk}/").content.decode()
    assert operator_client.post(page, {"default_mode": ""}).status_code == 403
