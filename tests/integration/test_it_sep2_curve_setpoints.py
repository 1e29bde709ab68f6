"""Curves as set points (issue #16 item 7: the CSIP control set includes volt–var and volt–watt
curves, not only as a program's default). An operator switches a 2030.5 DER into volt–var or
watt–var with a set point, with the curve it is to follow; the device reads a DERControl whose
opModVoltVar / opModWattVar links that curve in its program's DERCurveList. Seen before: a volt–var
set point could carry no curve at all ("takes no parameters") and reached the device as a bare P
limit — the device was never told to change mode."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.der_registry.engine.curves import VOLT_VAR_1547_B
from apps.der_registry.engine.sep2.xmlcodec import schema_problem
from apps.der_registry.models import SetPoint
from apps.plant.engine.feeder import DerReading
from tests.conftest import as_json
from tests.integration.sep2_device_support import follows, plant_device, plant_field
from tests.integration.test_it_sep2_default_mode import MODES, local, q
from tests.integration.test_it_sep2_server import Pki, connect, pki, run, server  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
CURVE_LINKS = ("opModVoltVar", "opModVoltWatt", "opModWattVar")


def newest_control(url: str, who: Pki, der_id: int) -> dict[str, Any]:
    """The newest DERControl of the device's own program, the curves it links (in whole percent:
    served in hundredths) and the hrefs of its program's DERCurveList."""

    async def session() -> dict[str, Any]:
        conn = connect(url, who.ca, who.device)
        program = (await conn.get(f"/edev/{der_id}/fsa/0/derp")).doc().find(q("DERProgram"))
        controls = await conn.get(program.find(q("DERControlListLink")).attrib["href"] + "?l=255")
        assert controls.status == 200 and schema_problem(controls.body) == "", controls.body
        # The one in force (the older ones are listed superseded for an hour).
        control = next(
            c
            for c in controls.doc().iter(q("DERControl"))
            if c.find(q("EventStatus")).findtext(q("currentStatus")) == "1"
        )
        base = control.find(q("DERControlBase"))
        seen: dict[str, Any] = {"base": [local(c.tag) for c in base], "curves": {}}
        seen["status"] = control.find(q("EventStatus")).findtext(q("currentStatus"))
        for link in [c for c in base if local(c.tag) in CURVE_LINKS]:
            curve = await conn.get(link.attrib["href"])
            assert curve.status == 200 and schema_problem(curve.body) == "", curve.body
            doc = curve.doc()
            assert (doc.findtext(q("xMultiplier")), doc.findtext(q("yMultiplier"))) == ("-2", "-2")
            points = [
                (int(d.findtext(q("xvalue"))) // 100, int(d.findtext(q("yvalue"))) // 100)
                for d in doc.iter(q("CurveData"))
            ]
            seen["curves"][local(link.tag)] = (doc.findtext(q("curveType")), points, link.attrib["href"])
        listed = await conn.get(program.find(q("DERCurveListLink")).attrib["href"] + "?l=255")
        assert listed.status == 200 and schema_problem(listed.body) == "", listed.body
        seen["listed"] = [c.attrib["href"] for c in listed.doc().iter(q("DERCurve"))]
        seen["list_all"] = int(listed.doc().attrib["all"])
        await conn.close()
        return seen

    result: dict[str, Any] = run(session())
    return result


def issue(client: Client, der_id: int, body: dict[str, Any]) -> Any:
    return client.post(f"/api/ders/{der_id}/setpoints/", body, "application/json")


def test_it_sends_a_volt_var_set_point_with_its_curve(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
    operator_client: Client,
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi, supported_modes=MODES)
    curve = [[0.94, 0.3], [0.99, 0.0], [1.01, 0.0], [1.05, -0.3]]
    answer = issue(operator_client, der.pk, {"control_mode": "volt_var", "params": {"curve": curve}})
    assert answer.status_code == 201, answer.content
    seen = newest_control(server, pki, der.pk)
    assert seen["base"] == ["opModVoltVar"] and seen["status"] == "1"
    kind, points, href = seen["curves"]["opModVoltVar"]
    # 2013's volt–var curve type is 0; V in % of nominal, Q in % of the available var.
    assert (kind, points) == ("0", [(94, 30), (99, 0), (101, 0), (105, -30)])
    assert href in seen["listed"] and seen["list_all"] == len(seen["listed"]) == 1
    assert as_json(answer)["params"] == {"curve": curve}

    # With a P limit, the curve rides beside it; the older set point's curve stays listed while
    # its superseded control is.
    watt_var = [[0.2, 0.0], [0.5, 0.0], [1.0, -0.44]]
    second = {"control_mode": "watt_var", "p_limit_kw": 2.0, "params": {"curve": watt_var}}
    assert issue(operator_client, der.pk, second).status_code == 201
    seen = newest_control(server, pki, der.pk)
    assert seen["base"] == ["opModMaxLimW", "opModWattVar"]
    kind, points, href = seen["curves"]["opModWattVar"]
    assert (kind, points) == ("10", [(20, 0), (50, 0), (100, -44)])  # 2013: watt–var is 10
    assert href in seen["listed"] and len(seen["listed"]) == 2


def test_it_fills_in_the_ders_own_curve_or_the_1547_default(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
    operator_client: Client,
    admin_client: Client,
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi, supported_modes=MODES)
    # No curve given and none set on the DER: IEEE 1547-2018 Table 8, category B.
    assert issue(operator_client, der.pk, {"control_mode": "volt_var", "p_limit_kw": 3.0}).status_code == 201
    seen = newest_control(server, pki, der.pk)
    assert seen["curves"]["opModVoltVar"][1] == [(round(v * 100), round(r * 100)) for v, r in VOLT_VAR_1547_B]

    # The DER's own volt–var curve (its default mode's) when it has one.
    own = {"curve": [[0.9, 0.44], [0.97, 0.0], [1.03, 0.0], [1.1, -0.44]]}
    url = f"/api/ders/{der.pk}/default-mode/"
    assert (
        admin_client.post(
            url, {"default_mode": "volt_var", "mode_params": own}, "application/json"
        ).status_code
        == 200
    )
    assert issue(operator_client, der.pk, {"control_mode": "volt_var", "p_limit_kw": 3.0}).status_code == 201
    seen = newest_control(server, pki, der.pk)
    assert seen["curves"]["opModVoltVar"][1] == [(90, 44), (97, 0), (103, 0), (110, -44)]
    # What was sent is recorded with the set point, for the history.
    assert SetPoint.objects.filter(der=der).first().params == own


def test_it_refuses_a_curve_the_der_cannot_follow_and_stores_nothing(
    enrolled: Callable[..., Any], operator_client: Client
) -> None:
    der = enrolled("active", supported_modes=MODES)
    rising = [[0.94, -0.3], [1.05, 0.3]]
    answer = issue(operator_client, der.pk, {"control_mode": "volt_var", "params": {"curve": rising}})
    assert answer.status_code == 400
    assert "rises from -0.3 to 0.3" in answer.content.decode()
    answer = issue(
        operator_client, der.pk, {"control_mode": "constant_var", "q_kvar": 1.0, "params": {"curve": rising}}
    )
    assert answer.status_code == 400 and "takes no parameters" in answer.content.decode()
    assert not SetPoint.objects.filter(der=der).exists()


def test_it_issues_a_curve_set_point_from_the_der_page(
    enrolled: Callable[..., Any], operator_client: Client
) -> None:
    der = enrolled("active", comm_path="sep2_direct", supported_modes=MODES)
    page = f"/ders/{der.pk}/setpoint/"
    typo = operator_client.post(page, {"control_mode": "volt_var", "curve": "0.92 0.44; 0.98 zero"})
    assert typo.status_code == 400
    assert typo.context["setpoint_form"].errors["curve"] == [
        "Point 2 ('0.98 zero') must be two numbers, such as 0.92 0.44."
    ]
    rising = operator_client.post(page, {"control_mode": "volt_var", "curve": "0.95 0; 1.05 0.3"})
    assert "Q rises from 0 to 0.3" in rising.context["setpoint_form"].errors["curve"][0]
    wrong_mode = operator_client.post(
        page, {"control_mode": "constant_var", "q_kvar": "1", "curve": "0.95 0; 1 0"}
    )
    assert "takes no parameters" in wrong_mode.context["setpoint_form"].errors["curve"][0]
    assert not SetPoint.objects.filter(der=der).exists()

    done = operator_client.post(page, {"control_mode": "volt_var", "curve": "0.94 0.3; 1.05 -0.3"})
    assert done.status_code == 302
    shown = operator_client.get(f"/ders/{der.pk}/").content.decode()
    assert 'Volt–var <span class="muted"><br>curve (0.94, 0.3) → (1.05, -0.3)</span>' in shown


def test_a_dnp3_der_is_sent_no_curve(enrolled: Callable[..., Any], operator_client: Client) -> None:
    link = {
        "dnp3_host": "127.0.0.1",
        "dnp3_port": 20000,
        "dnp3_outstation_address": 10,
        "dnp3_master_address": 1,
    }
    der = enrolled("active", comm_path="dnp3_direct", supported_modes=MODES, **link)
    refused = issue(
        operator_client, der.pk, {"control_mode": "volt_var", "params": {"curve": [[0.9, 0.4], [1.1, -0.4]]}}
    )
    assert refused.status_code == 400 and "DNP3, which carries no curves" in refused.content.decode()
    assert 'name="curve"' not in operator_client.get(f"/ders/{der.pk}/").content.decode()
    # Without one it is taken as it was (the device follows its own curve) and none is recorded.
    assert issue(operator_client, der.pk, {"control_mode": "volt_var", "p_limit_kw": 3.0}).status_code == 201
    assert SetPoint.objects.get(der=der).params == {}


def test_the_plant_device_holds_the_curves_q_at_its_voltage(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
    operator_client: Client,
    admin_client: Client,
) -> None:
    """Volt–var closed at the device: Q read off the curve at the voltage the plant gives it, each
    poll. Hand-solved on the curve (94 %, +30), (99 %, 0), (101 %, 0), (105 %, −30), Q in % of the
    4.84 kvar the inverter can absorb or inject."""
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi, supported_modes=MODES)
    field, held = plant_field(pki.device.lfdi)
    field.readings[pki.device.lfdi] = DerReading(p_kw=6.0, q_kvar=0.0, v_pu=1.03, available_kw=6.0)

    def holds(q_kvar: float) -> None:
        follows(held, lambda c: c.q_set_kvar == pytest.approx(q_kvar, abs=1e-3))

    with plant_device(server, pki, field) as stats:
        curve = [[0.94, 0.3], [0.99, 0.0], [1.01, 0.0], [1.05, -0.3]]
        answer = issue(operator_client, der.pk, {"control_mode": "volt_var", "params": {"curve": curve}})
        assert answer.status_code == 201, answer.content
        holds(-0.15 * 4.84)  # 103 %: halfway from 0 to −30 %
        field.readings[pki.device.lfdi] = DerReading(p_kw=6.0, q_kvar=0.0, v_pu=0.96, available_kw=6.0)
        holds(0.18 * 4.84)  # 96 %: 30 % − 30 % × 2/5
        # A constant-var set point replaces the curve. Where no set point sets Q, the DER's own
        # default mode does (here a watt–var curve, at 6 of 10 kW: −44 % × (60 − 50) / 50).
        assert (
            issue(operator_client, der.pk, {"control_mode": "constant_var", "q_kvar": 1.0}).status_code == 201
        )
        holds(1.0)
        watt_var = {"curve": [[0.2, 0.0], [0.5, 0.0], [1.0, -0.44]]}
        url = f"/api/ders/{der.pk}/default-mode/"
        assert (
            admin_client.post(
                url, {"default_mode": "watt_var", "mode_params": watt_var}, "application/json"
            ).status_code
            == 200
        )
        # A set point that limits P and sets no Q: Q from the default.
        assert (
            issue(operator_client, der.pk, {"control_mode": "active_reactive", "p_limit_kw": 8.0}).status_code
            == 201
        )
        holds(-0.088 * 4.84)
    assert stats.latency.errors == 0


def test_the_plant_device_holds_a_power_factor_at_its_output(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
    operator_client: Client,
) -> None:
    """A constant power factor set point (opModFixedPF) held as the Q the device's output needs:
    Q = P·tan(acos|pf|), absorbed for a negative power factor (EEI). Hand-solved at 6 kW and 4 kW.
    Seen before: the device answered it completed and held Q = 0."""
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi, supported_modes=MODES)
    field, held = plant_field(pki.device.lfdi)
    field.readings[pki.device.lfdi] = DerReading(p_kw=6.0, q_kvar=0.0, v_pu=1.0, available_kw=6.0)
    with plant_device(server, pki, field) as stats:
        answer = issue(operator_client, der.pk, {"control_mode": "constant_pf", "params": {"pf": -0.95}})
        assert answer.status_code == 201, answer.content
        follows(held, lambda c: c.q_set_kvar == pytest.approx(-6.0 * math.tan(math.acos(0.95)), abs=1e-3))
        field.readings[pki.device.lfdi] = DerReading(p_kw=4.0, q_kvar=0.0, v_pu=1.0, available_kw=4.0)
        follows(held, lambda c: c.q_set_kvar == pytest.approx(-4.0 * math.tan(math.acos(0.95)), abs=1e-3))
    assert stats.latency.errors == 0
