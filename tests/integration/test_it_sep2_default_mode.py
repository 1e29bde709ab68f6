"""A DER's default mode — what it does while no set point is in force — set by an admin and given to
its 2030.5 device as the DefaultDERControl of its program (issue #16 item 7: a DefaultDERControl
per program, volt–var and watt–var curves as controls). Seen before: the settings could not be set
at all (`mode_params` was read-only), and every device's DefaultDERControl said only "connected,
energized", whatever the registry held."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.der_registry.engine.curves import VOLT_VAR_1547_B
from apps.der_registry.engine.sep2.editions import NS_2013
from apps.der_registry.engine.sep2.xmlcodec import schema_problem
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json
from tests.integration.test_it_sep2_server import Pki, connect, pki, run, server  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
MODES = ("active_reactive", "volt_var", "watt_var", "constant_pf", "constant_var")


def q(tag: str) -> str:
    return f"{{{NS_2013}}}{tag}"


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def walk(url: str, who: Pki, der_id: int) -> dict[str, Any]:
    """What the device reads: its program's DefaultDERControl and the curve it links, by the links."""

    async def session() -> dict[str, Any]:
        conn = connect(url, who.ca, who.device)
        program = (await conn.get(f"/edev/{der_id}/fsa/0/derp")).doc().find(q("DERProgram"))
        answer = await conn.get(program.find(q("DefaultDERControlLink")).attrib["href"])
        assert answer.status == 200 and schema_problem(answer.body) == "", answer.body
        base = answer.doc().find(q("DERControlBase"))
        seen: dict[str, Any] = {"description": answer.doc().findtext(q("description"))}
        seen["base"] = [local(c.tag) for c in base]
        seen["pf"] = (
            [c.text for c in base.find(q("opModFixedPF"))]
            if base.find(q("opModFixedPF")) is not None
            else None
        )
        seen["curves"] = {}
        for link in [c for c in base if local(c.tag) in ("opModVoltVar", "opModVoltWatt", "opModWattVar")]:
            curve = await conn.get(link.attrib["href"])
            assert curve.status == 200 and schema_problem(curve.body) == "", curve.body
            doc = curve.doc()
            x_scale = 10.0 ** int(doc.findtext(q("xMultiplier")))
            y_scale = 10.0 ** int(doc.findtext(q("yMultiplier")))
            points = [
                (
                    round(int(d.findtext(q("xvalue"))) * x_scale, 6),
                    round(int(d.findtext(q("yvalue"))) * y_scale, 6),
                )
                for d in doc.iter(q("CurveData"))
            ]
            kind = local(link.tag)
            seen["curves"][kind] = (doc.findtext(q("curveType")), doc.findtext(q("yRefType")), points)
            if kind != "opModVoltWatt":  # the reactive mode's curve
                seen["curve"] = (doc.findtext(q("curveType")), points)  # in percent
        await conn.close()
        return seen

    result: dict[str, Any] = run(session())
    return result


def test_it_gives_the_device_the_default_mode_an_admin_sets(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
    admin_client: Client,
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi, supported_modes=MODES)
    url = f"/api/ders/{der.pk}/default-mode/"
    assert walk(server, pki, der.pk)["base"] == ["opModConnect", "opModEnergize"]  # none set yet

    curve = [list(p) for p in VOLT_VAR_1547_B]
    set_vv = admin_client.post(
        url, {"default_mode": "volt_var", "mode_params": {"curve": curve}}, "application/json"
    )
    assert set_vv.status_code == 200 and as_json(set_vv)["default_mode"] == "volt_var"
    seen = walk(server, pki, der.pk)
    assert seen["base"] == ["opModConnect", "opModEnergize", "opModVoltVar"]
    # 2013's volt-var curve type is 0; the points in percent (V of nominal, Q of the available var).
    assert seen["curve"] == ("0", [(92, 44), (98, 0), (102, 0), (108, -44)])

    watt_var = {"curve": [[0.2, 0.0], [0.5, 0.0], [1.0, -0.44]]}
    assert (
        admin_client.post(
            url, {"default_mode": "watt_var", "mode_params": watt_var}, "application/json"
        ).status_code
        == 200
    )
    assert walk(server, pki, der.pk)["curve"] == (
        "10",
        [(20, 0), (50, 0), (100, -44)],
    )  # 2013: watt-var is 10

    assert (
        admin_client.post(
            url, {"default_mode": "constant_pf", "mode_params": {"pf": -0.95}}, "application/json"
        ).status_code
        == 200
    )
    seen = walk(server, pki, der.pk)
    assert (seen["base"], seen["pf"]) == (["opModConnect", "opModEnergize", "opModFixedPF"], ["-95", "-2"])
    assert "curve" not in seen  # no curve left to follow
    assert seen["description"] == "Default: Constant power factor"

    # Volt–watt beside the reactive mode (IEEE 1547-2018 §5.4.2): its own DERCurve, type 3 in 2013
    # (opModVoltWatt), P in % of setMaxW (yRefType 1).
    both = {"curve": curve, "volt_watt": [[1.06, 1.0], [1.1, 0.2]]}
    answer = admin_client.post(url, {"default_mode": "volt_var", "mode_params": both}, "application/json")
    assert answer.status_code == 200, answer.content
    seen = walk(server, pki, der.pk)
    assert seen["base"] == ["opModConnect", "opModEnergize", "opModVoltVar", "opModVoltWatt"]
    assert seen["curves"]["opModVoltWatt"] == ("3", "1", [(106, 100), (110, 20)])
    assert seen["curves"]["opModVoltVar"] == ("0", "3", [(92, 44), (98, 0), (102, 0), (108, -44)])
    changes = AuditRecord.objects.filter(action="der.default_mode", object_id=str(der.pk))
    assert [r.after["default_mode"] for r in changes.order_by("at")] == [
        "volt_var",
        "watt_var",
        "constant_pf",
        "volt_var",
    ]


def test_it_refuses_settings_the_der_cannot_follow_and_keeps_the_ones_it_has(
    enrolled: Callable[..., Any], admin_client: Client, operator_client: Client
) -> None:
    der = enrolled("active", supported_modes=("active_reactive", "volt_var", "constant_pf"))
    url = f"/api/ders/{der.pk}/default-mode/"
    good = {"default_mode": "constant_pf", "mode_params": {"pf": 0.95}}
    assert admin_client.post(url, good, "application/json").status_code == 200
    refused = [
        (
            {"default_mode": "watt_var", "mode_params": {}},
            "default_mode",
            "does not support the Watt–var mode",
        ),
        ({"default_mode": "constant_pf", "mode_params": {"pf": 0.5}}, "mode_params", "would need 17.32 kvar"),
        ({"default_mode": "constant_pf", "mode_params": {}}, "mode_params", "needs its pf"),
        (
            {"default_mode": "volt_var", "mode_params": {"curve": [[0.9, 0.4]]}},
            "mode_params",
            "2 to 10 points",
        ),
        (
            {"default_mode": "volt_var", "mode_params": {"curve": [[0.95, 0.0], [1.05, 0.3]]}},
            "mode_params",
            "Q rises from 0 to 0.3 as the voltage rises",
        ),
        (
            {"default_mode": "volt_var", "mode_params": {"curve": [[1.05, 0.0], [0.95, -0.3]]}},
            "mode_params",
            "must rise from point to point",
        ),
        (
            {"default_mode": "volt_var", "mode_params": {"curve": [[0.9, 2], [1.1, 0]]}},
            "mode_params",
            "between -1 and 1",
        ),
        (
            {"default_mode": "volt_var", "mode_params": {"curve": "0.9 0.4"}},
            "mode_params",
            "a list of 2 to 10 points",
        ),
        (
            {"default_mode": "volt_var", "mode_params": {"pf": 0.9}},
            "mode_params",
            "takes only curve (not pf)",
        ),
        ({"default_mode": "", "mode_params": {"pf": 0.9}}, "mode_params", "no settings to keep"),
    ]
    for body, field, words in refused:
        answer = admin_client.post(url, body, "application/json")
        assert answer.status_code == 400, body
        assert words in " ".join(as_json(answer)["errors"][field]), (body, as_json(answer))
    der.refresh_from_db()
    assert (der.default_mode, der.mode_params) == ("constant_pf", {"pf": 0.95})  # untouched
    assert operator_client.post(url, good, "application/json").status_code == 403  # an admin's setting
    # An edit the default mode would no longer fit is refused too, and says what to change first.
    drop = admin_client.patch(
        f"/api/ders/{der.pk}/", {"supported_modes": ["active_reactive"]}, "application/json"
    )
    assert drop.status_code == 400
    assert "does not support the Constant power factor mode. Change the default mode first." in " ".join(
        as_json(drop)["errors"]["supported_modes"]
    )
    shrink = admin_client.patch(f"/api/ders/{der.pk}/", {"reactive_injected_kvar": 2.0}, "application/json")
    assert shrink.status_code == 400
    assert "would need 3.287 kvar at the 10 kW rating" in " ".join(as_json(shrink)["errors"]["default_mode"])
    der.refresh_from_db()
    assert (der.supported_modes, der.np_reactive_injected_kvar) == (
        ["active_reactive", "volt_var", "constant_pf"],
        4.84,
    )
    cleared = admin_client.post(url, {"default_mode": ""}, "application/json")
    assert cleared.status_code == 200 and as_json(cleared)["mode_params"] == {}


def test_it_sets_the_default_mode_from_the_der_page(
    enrolled: Callable[..., Any], admin_client: Client, operator_client: Client
) -> None:
    der = enrolled("active", supported_modes=("active_reactive", "volt_var", "constant_pf"))
    page = f"/ders/{der.pk}/default-mode/"
    typo = admin_client.post(page, {"default_mode": "volt_var", "curve": "0.92 0.44; 0.98 zero"})
    assert typo.status_code == 400
    assert typo.context["default_mode_form"].errors["curve"] == [
        "Point 2 ('0.98 zero') must be two numbers, such as 0.92 0.44."
    ]
    rising = admin_client.post(page, {"default_mode": "volt_var", "curve": "0.95 0; 1.05 0.3"})
    assert (
        rising.status_code == 400
        and "Q rises from 0 to 0.3" in rising.context["default_mode_form"].errors["curve"][0]
    )
    der.refresh_from_db()
    assert der.default_mode == ""
    done = admin_client.post(
        page, {"default_mode": "volt_var", "curve": "0.92 0.44; 0.98 0; 1.02 0; 1.08 -0.44", "pf": "0.9"}
    )
    assert done.status_code == 302
    der.refresh_from_db()
    assert (der.default_mode, der.mode_params) == (
        "volt_var",
        {"curve": [list(p) for p in VOLT_VAR_1547_B]},
    )  # pf: not this mode's
    shown = admin_client.get(f"/ders/{der.pk}/").content.decode()
    assert (
        "<strong>Volt–var</strong>, curve (0.92, 0.44) → (0.98, 0.0) → (1.02, 0.0) → (1.08, -0.44)" in shown
    )
    assert 'id="default-mode-form"' not in operator_client.get(f"/ders/{der.pk}/").content.decode()
    assert operator_client.post(page, {"default_mode": ""}).status_code == 403


def test_it_sets_a_volt_watt_curve_beside_the_default_mode_from_the_der_page(
    enrolled: Callable[..., Any], admin_client: Client
) -> None:
    der = enrolled("active", supported_modes=("active_reactive", "volt_var", "constant_pf"))
    page = f"/ders/{der.pk}/default-mode/"
    rising = admin_client.post(page, {"default_mode": "", "volt_watt": "1.06 0.2; 1.1 1"})
    assert rising.status_code == 400
    (said,) = rising.context["default_mode_form"].errors["volt_watt"]  # beside its own field
    assert said.startswith("Volt–watt curve: Point 2: P rises from 0.2 to 1")
    typo = admin_client.post(page, {"default_mode": "", "volt_watt": "1.06 one"})
    assert typo.context["default_mode_form"].errors["volt_watt"] == [
        "Point 1 ('1.06 one') must be two numbers, such as 1.06 1."
    ]
    der.refresh_from_db()
    assert der.mode_params == {}

    done = admin_client.post(
        page, {"default_mode": "constant_pf", "pf": "0.95", "volt_watt": "1.06 1; 1.1 0.2"}
    )
    assert done.status_code == 302
    der.refresh_from_db()
    assert der.mode_params == {"pf": 0.95, "volt_watt": [[1.06, 1.0], [1.1, 0.2]]}
    shown = admin_client.get(f"/ders/{der.pk}/").content.decode()
    assert "volt–watt curve (1.06, 1.0) → (1.1, 0.2)" in shown
    off = admin_client.post(page, {"default_mode": "constant_pf", "pf": "0.95", "volt_watt": ""})
    assert off.status_code == 302
    der.refresh_from_db()
    assert der.mode_params == {"pf": 0.95}  # volt–watt off
