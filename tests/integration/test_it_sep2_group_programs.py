"""Group programs (issue #16 item 7: DERPrograms by primacy, group (aggregator / FSA) assignment, the
CSIP control set, randomization of start and duration). Seen before: every device had one
FunctionSetAssignments and one DERProgram, at primacy 0; an operator could reach a group of DERs only
one set point at a time, and could not connect, disconnect, de-energize, ramp or randomize."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.der_registry import actions
from apps.der_registry.engine.group_controls import DEVICE_PROGRAM_PRIMACY
from apps.der_registry.engine.sep2.editions import NS_2013
from apps.der_registry.engine.sep2.server import server_context
from apps.der_registry.engine.sep2.simulator import response_doc
from apps.der_registry.engine.sep2.xmlcodec import schema_problem
from apps.der_registry.models import DERGroup, GroupControl, Sep2EndDevice, Sep2Response
from apps.plant.engine.feeder import DerCommand, DerReading
from crest_web.accounts.models import AuditRecord
from tests.conftest import as_json, client_for, dnp3
from tests.integration.sep2_device_support import follows, plant_device, plant_field
from tests.integration.test_it_sep2_server import (  # noqa: F401
    Pki,
    connect,
    notification_receiver,
    pki,
    run,
    server,
    subscription_doc,
    valid_get,
)

pytestmark = pytest.mark.django_db(transaction=True)


def q(tag: str) -> str:
    return f"{{{NS_2013}}}{tag}"


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, "application/json")


@pytest.fixture
def members(enrolled: Callable[..., Any], pki: Pki) -> dict[str, Any]:  # noqa: F811
    """Group "north" (a microgrid) with the device and one more 2030.5 DER; a third DER outside it."""
    group = DERGroup.objects.create(name="north", kind="microgrid")
    inside = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    other = enrolled(
        "active", name="pv-b", serial_number="SN-B", lfdi=pki.members[0].lfdi, sfdi=pki.members[0].sfdi
    )
    outside = enrolled(
        "active", name="pv-c", serial_number="SN-C", lfdi=pki.members[1].lfdi, sfdi=pki.members[1].sfdi
    )
    for der in (inside, other):
        der.groups.add(group)  # set-up: membership is edited on the DER (tested with the registry)
    return {"group": group, "inside": inside, "other": other, "outside": outside}


def walk_group_program(url: str, who: Any, der_id: int) -> dict[str, Any]:
    """What a member's device reads, by the links only: its FSA list, the group's program, its controls."""

    async def session() -> dict[str, Any]:
        conn = connect(url, who.ca, who.device)
        edev = (await valid_get(conn, f"/edev/{der_id}")).doc()
        fsa_link = edev.find(q("FunctionSetAssignmentsListLink"))
        fsas = (
            (await valid_get(conn, fsa_link.attrib["href"] + "?l=10"))
            .doc()
            .findall(q("FunctionSetAssignments"))
        )
        seen: dict[str, Any] = {"fsa_all": fsa_link.attrib["all"], "fsas": len(fsas), "programs": []}
        for fsa in fsas:
            plist = await valid_get(conn, fsa.find(q("DERProgramListLink")).attrib["href"])
            for program in plist.doc().findall(q("DERProgram")):
                controls_link = program.find(q("DERControlListLink")).attrib["href"]
                active_link = program.find(q("ActiveDERControlListLink")).attrib["href"]
                controls = (await valid_get(conn, controls_link + "?l=10")).doc().findall(q("DERControl"))
                active = (await valid_get(conn, active_link + "?l=10")).doc().findall(q("DERControl"))
                seen["programs"].append(
                    {
                        "href": program.attrib["href"],
                        "primacy": int(program.findtext(q("primacy"))),
                        "default": program.find(q("DefaultDERControlLink")) is not None,
                        "controls": [control_fields(c) for c in controls],
                        "active": [c.findtext(q("mRID")) for c in active],
                    }
                )
        await conn.close()
        return seen

    result: dict[str, Any] = run(session())
    return result


def control_fields(control: Any) -> dict[str, Any]:
    base = control.find(q("DERControlBase"))
    fields = {c.tag.rpartition("}")[2]: (c.text or "").strip() for c in base}
    if base.find(q("opModFixedVar")) is not None:
        fixed = base.find(q("opModFixedVar"))
        fields["opModFixedVar"] = (fixed.findtext(q("refType")), fixed.findtext(q("value")))
    if base.find(q("opModTargetW")) is not None:  # ActivePower: W = value × 10^multiplier
        target = base.find(q("opModTargetW"))
        fields["opModTargetW"] = (target.findtext(q("multiplier")), target.findtext(q("value")))
    return {
        "mrid": control.findtext(q("mRID")),
        "href": control.attrib["href"],
        "status": int(control.findtext(f"{q('EventStatus')}/{q('currentStatus')}")),
        "duration": int(control.findtext(f"{q('interval')}/{q('duration')}")),
        "randomizeStart": control.findtext(q("randomizeStart")),
        "randomizeDuration": control.findtext(q("randomizeDuration")),
        "base": fields,
    }


def test_it_serves_a_group_control_to_every_member_in_the_groups_program_by_primacy(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    admin_client: Client,
    operator_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    base = f"/api/der-groups/{group.pk}"
    answer = post(admin_client, f"{base}/primacy/", {"primacy": 5})
    assert answer.status_code == 200 and as_json(answer)["primacy"] == 5
    assert as_json(answer)["members"] == 2 and as_json(answer)["reached_by_group_controls"] == 2

    ask = {
        "description": "Feeder north curtail",
        "max_lim_pct": 50,
        "connect": True,
        "fixed_var_pct": -25.5,
        "ramp_s": 10,
        "duration_s": 1800,
        "randomize_start_s": 60,
        "randomize_duration_s": 30,
    }
    answer = post(operator_client, f"{base}/controls/", ask)
    assert answer.status_code == 201, answer.content
    issued = as_json(answer)
    assert issued["status"] == "active" and issued["responses"]["received"] == 0

    seen = walk_group_program(server, pki, inside.pk)
    assert (seen["fsa_all"], seen["fsas"]) == ("2", 2)  # its own program's, and the group's
    own, grp = seen["programs"]
    assert own["primacy"] == DEVICE_PROGRAM_PRIMACY and own["default"]
    assert grp["href"] == f"/gderp/{group.pk}" and grp["primacy"] == 5
    assert not grp["default"]  # a group default would hide each member's own default mode
    (control,) = grp["controls"]
    assert control["status"] == 1 and control["duration"] == 1800
    assert (control["randomizeStart"], control["randomizeDuration"]) == ("60", "30")
    assert control["base"] == {
        "opModConnect": "true",
        "opModFixedVar": ("2", "-2550"),  # % of setMaxVar, hundredths; negative absorbs
        "opModMaxLimW": "5000",
        "rampTms": "1000",
    }
    assert grp["active"] == [control["mrid"]]

    async def answer_it() -> list[int]:
        conn = connect(server, pki.ca, pki.device)
        codes = []
        for code in (1, 2, 3):  # received, started, completed
            reply = await conn.post("/rsps/0/rsp", response_doc(pki.device.lfdi, control["mrid"], code))
            codes.append(reply.status)
        await conn.close()
        return codes

    assert run(answer_it()) == [201, 201, 201]
    listed = as_json(operator_client.get(f"{base}/controls/"))
    assert listed[0]["responses"] == {"received": 1, "started": 1, "completed": 1, "refused": 0}
    page = operator_client.get(f"/ders/groups/{group.pk}/").content.decode()
    not_answered = page.split('id="not-answered">')[1].split("</p>")[0]
    assert "(1 of 2 received)" in not_answered and ">pv-b</a>" in not_answered
    assert "pv-675-a" not in not_answered  # it answered
    assert AuditRecord.objects.filter(action="dergroup.control").count() == 1


def test_it_serves_a_p_target_for_each_device_as_op_mod_target_w(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    answer = post(
        operator_client, f"/api/der-groups/{group.pk}/controls/", {"target_w_kw": 3.5, "duration_s": 600}
    )
    assert answer.status_code == 201, answer.content
    assert as_json(answer)["target_w_kw"] == 3.5 and as_json(answer)["description"] == "P → 3.5 kW"
    program = next(
        p for p in walk_group_program(server, pki, inside.pk)["programs"] if p["href"].startswith("/gderp/")
    )
    (control,) = program["controls"]
    assert control["base"] == {"opModTargetW": ("0", "3500")}  # 3500 × 10^0 W, valid in its schema
    page = operator_client.get(f"/ders/groups/{group.pk}/").content.decode()
    assert "P → 3.5 kW" in page


def test_it_serves_a_power_factor_for_each_device_and_the_device_holds_it(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
    admin_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    post(admin_client, f"/api/der-groups/{group.pk}/primacy/", {"primacy": 5})
    answer = post(
        operator_client, f"/api/der-groups/{group.pk}/controls/", {"fixed_pf": -0.95, "duration_s": 600}
    )
    assert answer.status_code == 201 and as_json(answer)["fixed_pf"] == -0.95, answer.content
    (_own, grp) = walk_group_program(server, pki, inside.pk)["programs"]
    assert grp["controls"][0]["base"]["opModFixedPF"] == ""  # present (its parts below)
    field, held = plant_field(pki.device.lfdi)
    field.readings[pki.device.lfdi] = DerReading(p_kw=5.0, q_kvar=0.0, v_pu=1.0, available_kw=5.0)
    with plant_device(server, pki, field):
        # 5 kW at 0.95 absorbing: 5·tan(acos 0.95) = 1.643 kvar absorbed.
        follows(held, lambda c: c.q_set_kvar == pytest.approx(-1.643, abs=1e-3))


def test_it_keeps_group_programs_from_devices_outside_the_group(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
) -> None:
    group, outside = members["group"], members["outside"]
    assert (
        post(
            operator_client, f"/api/der-groups/{group.pk}/controls/", {"connect": False, "duration_s": 60}
        ).status_code
        == 201
    )
    control = GroupControl.objects.get()

    async def peek() -> list[int]:
        conn = connect(server, pki.ca, pki.members[1])
        answers = [
            await conn.get(f"/gderp/{group.pk}"),
            await conn.get(f"/gderp/{group.pk}/derc/{control.pk}"),
            await conn.get(f"/edev/{outside.pk}/fsa/{group.pk}"),
        ]
        fsa_list = await valid_get(conn, f"/edev/{outside.pk}/fsa")
        reply = await conn.post(
            "/rsps/0/rsp",
            response_doc(pki.members[1].lfdi, f"09{control.pk:022X}{0:08X}", 3),
        )
        await conn.close()
        return [a.status for a in answers] + [int(fsa_list.doc().attrib["all"]), reply.status]

    assert run(peek()) == [404, 404, 404, 1, 400]
    assert not control.responses.exists()


def test_it_serves_scheduled_and_cancelled_controls_as_the_standard_says(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    url = f"/api/der-groups/{group.pk}/controls/"
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    scheduled = as_json(post(operator_client, url, {"energize": False, "duration_s": 600, "start_at": later}))
    now = as_json(post(operator_client, url, {"max_lim_pct": 0, "duration_s": 600, "randomize_start_s": 120}))
    assert scheduled["status"] == "scheduled" and now["status"] == "active"

    answer = post(operator_client, f"{url}{now['id']}/cancel/", {})
    assert answer.status_code == 200 and as_json(answer)["status"] == "cancelled"
    again = post(operator_client, f"{url}{now['id']}/cancel/", {})
    assert again.status_code == 400 and "already cancelled" in again.content.decode()

    (_own, grp) = walk_group_program(server, pki, inside.pk)["programs"]
    by_status = {c["href"].rpartition("/")[2]: c["status"] for c in grp["controls"]}
    # Scheduled 0; cancelled with randomization 3 (the devices spread their return), still listed.
    assert by_status == {str(scheduled["id"]): 0, str(now["id"]): 3}
    assert grp["active"] == []
    # interval.start ascending: the cancelled one (now) before the scheduled one (in two hours)
    assert [c["href"].rpartition("/")[2] for c in grp["controls"]] == [str(now["id"]), str(scheduled["id"])]


def test_it_refuses_bad_group_controls_in_words_and_stores_nothing(
    members: dict[str, Any],
    operator_client: Client,
    admin_client: Client,
    planner: Any,
    outsider: Any,
    enrolled: Callable[..., Any],
) -> None:
    group = members["group"]
    url = f"/api/der-groups/{group.pk}/controls/"
    cases = [
        ({"duration_s": 60}, "Say what the group should do"),
        ({"max_lim_pct": 150, "duration_s": 60}, "from 0 to 100"),
        ({"max_lim_pct": "half", "duration_s": 60}, "from 0 to 100"),
        ({"fixed_var_pct": -101, "duration_s": 60}, "from -100 to 100"),
        ({"connect": "maybe", "duration_s": 60}, "true or false"),
        ({"connect": False}, "whole number of seconds"),
        ({"connect": False, "duration_s": 0}, "whole number of seconds"),
        ({"connect": False, "duration_s": 1.5}, "whole number of seconds"),
        ({"connect": False, "duration_s": 60, "randomize_start_s": 7200}, "from 0 to 3600"),
        ({"connect": False, "duration_s": 60, "ramp_s": 1000}, "from 0 to 655.35"),
        ({"connect": False, "duration_s": 60, "start_at": "tomorrow"}, "date and time"),
        ({"connect": False, "duration_s": 60, "start_at": "2020-01-01T00:00:00Z"}, "already be over"),
        ({"connect": False, "duration_s": 60, "start_at": "2099-01-01T00:00:00Z"}, "a week ahead"),
        ({"connect": False, "duration_s": 60, "description": "x" * 40}, "32 characters"),
        ({"target_w_kw": -1, "duration_s": 60}, "from 0 to 10000"),
        # The same kW for every device: refused while a member it reaches is rated below it.
        ({"target_w_kw": 12, "duration_s": 60}, "2 of the group's members are rated below it"),
        # 10 kW with 4.84 kvar holds down to 0.9: a power factor of 0.5 would need 17.3 kvar.
        ({"fixed_pf": 0.5, "duration_s": 60}, "2 of the group's members cannot hold it at their rating"),
        ({"fixed_pf": 0.95, "fixed_var_pct": 10, "duration_s": 60}, "one reactive mode"),
    ]
    for body, words in cases:
        answer = post(operator_client, url, body)
        assert answer.status_code == 400 and words in answer.content.decode(), (body, answer.content)
    assert post(operator_client, url, ["not", "an", "object"]).status_code == 400
    assert post(client_for(planner), url, {"connect": False, "duration_s": 60}).status_code == 403
    assert post(client_for(outsider), url, {"connect": False, "duration_s": 60}).status_code == 403
    assert post(operator_client, f"/api/der-groups/{group.pk}/primacy/", {"primacy": 1}).status_code == 403
    for primacy in (256, -1, "first", 2.5):
        answer = post(admin_client, f"/api/der-groups/{group.pk}/primacy/", {"primacy": primacy})
        assert answer.status_code == 400 and "from 0 to 255" in answer.content.decode()

    dnp3_only = DERGroup.objects.create(name="rtu-fleet", kind="microgrid")
    enrolled("active", name="bess-1", serial_number="SN-D1", **dnp3(11)).groups.add(dnp3_only)
    answer = post(
        operator_client, f"/api/der-groups/{dnp3_only.pk}/controls/", {"connect": False, "duration_s": 60}
    )
    assert (
        answer.status_code == 400
        and "No active member of rtu-fleet talks IEEE 2030.5" in answer.content.decode()
    )
    assert not GroupControl.objects.exists()
    assert DERGroup.objects.get(pk=group.pk).primacy == 20
    assert not AuditRecord.objects.filter(action__startswith="dergroup.control").exists()


def test_it_the_group_page_issues_shows_and_cancels_controls(
    members: dict[str, Any],
    operator_client: Client,
    admin_client: Client,
    planner: Any,
    enrolled: Callable[..., Any],
) -> None:
    group = members["group"]
    enrolled("active", name="bess-1", serial_number="SN-D1", **dnp3(11)).groups.add(group)
    enrolled("pending", name="pv-p", serial_number="SN-P").groups.add(group)  # not yet in service
    listing = operator_client.get("/ders/groups/").content.decode()
    assert f'href="/ders/groups/{group.pk}/"' in listing and "1 DNP3 not reached" in listing
    page = operator_client.get(f"/ders/groups/{group.pk}/").content.decode()
    assert (
        ">4 DERs</a>; <strong>2</strong> reached by group controls" in page
    )  # not the DNP3 or pending one and 'id="group-control-form"' in page
    assert 'id="primacy-form"' not in page  # an operator does not set the primacy

    url = f"/ders/groups/{group.pk}/control/"
    bad = operator_client.post(url, {"duration_min": "half an hour", "max_lim_pct": "150"})
    text = bad.content.decode()
    assert bad.status_code == 400 and "Give a number from 0 to 100" in text and "in minutes" in text
    assert 'value="150"' in text  # what was typed is kept
    assert not GroupControl.objects.exists()

    done = operator_client.post(
        url, {"duration_min": "30", "max_lim_pct": "50", "connect": "", "energize": ""}
    )
    assert done.status_code == 302
    control = GroupControl.objects.get()
    assert (control.duration_s, control.max_lim_pct, control.connect) == (1800, 50.0, None)
    assert control.description == "P ≤ 50 %"  # none given: the modes in words
    listing = operator_client.get("/ders/groups/").content.decode()
    assert '#group-controls"><span class="badge warn">1</span>' in listing  # in force now
    page = operator_client.get(f"/ders/groups/{group.pk}/").content.decode()
    assert "P ≤ 50 %" in page and "0 received · 0 completed" in page and ">active<" in page
    row = page.split(f'<tr data-control="{control.pk}">')[1].split("</tr>")[0]
    # None given: the row says so rather than repeating what it asks for (devices are sent the words).
    assert row.count("P ≤ 50 %") == 1 and "none given" in row
    not_answered = page.split('id="not-answered">')[1].split("</p>")[0]
    assert f"control {control.pk} yet (0 of 2 received)" in not_answered
    assert ">pv-675-a</a>, <a" in not_answered and ">pv-b</a>" in not_answered  # by name, linked
    assert "bess-1" not in not_answered and "pv-p" not in not_answered  # not reached: not expected
    described = operator_client.post(url, {"duration_min": "5", "energize": "false", "description": "Storm"})
    assert described.status_code == 302
    page = operator_client.get(f"/ders/groups/{group.pk}/").content.decode()
    assert "<td>Storm</td>" in page and "cease to energize" in page  # what it asks, whatever it is called

    cancel = f"/ders/groups/{group.pk}/control/{control.pk}/cancel/"
    assert client_for(planner).post(cancel).status_code == 403
    assert operator_client.post(cancel).status_code == 302
    assert ">cancelled<" in operator_client.get(f"/ders/groups/{group.pk}/").content.decode()

    planner_page = client_for(planner).get(f"/ders/groups/{group.pk}/").content.decode()
    assert 'id="group-control-form"' not in planner_page and "Cancel</button>" not in planner_page
    assert admin_client.post(f"/ders/groups/{group.pk}/primacy/", {"primacy": "999"}).status_code == 400
    assert admin_client.post(f"/ders/groups/{group.pk}/primacy/", {"primacy": "3"}).status_code == 302
    assert DERGroup.objects.get(pk=group.pk).primacy == 3


def test_it_a_member_device_follows_its_programs_by_primacy_and_answers(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
    admin_client: Client,
) -> None:
    """The plant's 2030.5 device (the simulator over the plant's field) walks every program it is
    assigned and follows, mode by mode, the control of lowest primacy in force."""
    group, inside = members["group"], members["inside"]
    field, held = plant_field(pki.device.lfdi)
    actions.do_issue_setpoint(
        None, "system", inside.pk, control_mode="active_reactive", q_kvar=1.5, p_limit_kw=8
    )
    url = f"/api/der-groups/{group.pk}/controls/"
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    for step in range(9):  # an operator stepping down first: superseded, listed before the last step
        post(operator_client, url, {"max_lim_pct": 90 - 5 * step, "duration_s": 600, "start_at": earlier})
    curtail = as_json(
        post(operator_client, url, {"max_lim_pct": 40, "fixed_var_pct": -50, "duration_s": 600})
    )
    with plant_device(server, pki, field) as stats:  # switched on now, off at the end
        # The group's program (primacy 20) ranks below the device's own (10): its set point holds.
        own = DerCommand(p_limit_kw=8.0, q_set_kvar=1.5, connected=True)
        follows(held, lambda c: c == own)
        post(admin_client, f"/api/der-groups/{group.pk}/primacy/", {"primacy": 5})
        # Now the group's P limit and fixed Q (−50 % of the 4.84 kvar it can absorb) take precedence.
        grouped = DerCommand(p_limit_kw=4.0, q_set_kvar=pytest.approx(-2.42), connected=True)
        follows(held, lambda c: c == grouped)

        trip = as_json(post(operator_client, url, {"connect": False, "duration_s": 600}))
        follows(held, lambda c: c.connected is False)
        deadline = time.monotonic() + 5.0  # and it reports itself disconnected (DERStatus)
        while time.monotonic() < deadline and Sep2EndDevice.objects.get(der=inside).status.get(
            "genConnectStatus"
        ):
            time.sleep(0.1)
        assert Sep2EndDevice.objects.get(der=inside).status["genConnectStatus"] == 0
        post(operator_client, f"{url}{trip['id']}/cancel/", {})
        follows(held, lambda c: c == grouped)
        deadline = time.monotonic() + 5.0  # and it answers the cancellation (6)
        while time.monotonic() < deadline and not Sep2Response.objects.filter(status=6).exists():
            time.sleep(0.1)
        # A P target of 3 kW for each device (opModTargetW) beside the 40 % limit: the PV holds 3 kW.
        post(operator_client, url, {"target_w_kw": 3, "duration_s": 600})
        follows(
            held, lambda c: c == DerCommand(p_limit_kw=3.0, q_set_kvar=pytest.approx(-2.42), connected=True)
        )
    assert stats.latency.errors == 0
    answered = {
        (r.group_control_id, r.status) for r in Sep2Response.objects.filter(group_control__isnull=False)
    }
    assert {
        (curtail["id"], 1),
        (curtail["id"], 3),
        (trip["id"], 1),
        (trip["id"], 3),
        (trip["id"], 6),
    } <= answered


def test_it_a_newer_control_supersedes_the_overlapping_one_that_sets_the_same_mode(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
) -> None:
    """An operator stepping a curtailment (ten controls, as in the demo) sees each step replace the
    last, and the devices are told so (EventStatus 4), not left with ten controls in force."""
    group, inside = members["group"], members["inside"]
    url = f"/api/der-groups/{group.pk}/controls/"
    steps = [
        as_json(post(operator_client, url, {"max_lim_pct": 90 - 10 * i, "duration_s": 600})) for i in range(3)
    ]
    beside = as_json(post(operator_client, url, {"connect": True, "duration_s": 600}))  # another mode
    listed = {c["id"]: c for c in as_json(operator_client.get(url))}
    assert [c["id"] for c in as_json(operator_client.get(url))] == [
        beside["id"],
        *[s["id"] for s in steps][::-1],
    ]
    assert [listed[s["id"]]["status"] for s in steps] == ["superseded", "superseded", "active"]
    assert [listed[s["id"]]["superseded_by"] for s in steps] == [steps[1]["id"], steps[2]["id"], None]
    assert listed[beside["id"]]["status"] == "active"

    (_own, grp) = walk_group_program(server, pki, inside.pk)["programs"]
    served = {int(c["href"].rpartition("/")[2]): c["status"] for c in grp["controls"]}
    assert served == {steps[0]["id"]: 4, steps[1]["id"]: 4, steps[2]["id"]: 1, beside["id"]: 1}
    assert sorted(grp["active"]) == sorted(c["mrid"] for c in grp["controls"] if c["status"] == 1)

    refused = post(operator_client, f"{url}{steps[0]['id']}/cancel/", {})
    assert (
        refused.status_code == 400 and f"superseded by control {steps[1]['id']}" in refused.content.decode()
    )


def test_it_notifies_a_member_subscribed_to_the_groups_controls_of_issue_and_cancel(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    members: dict[str, Any],
    operator_client: Client,
) -> None:
    group, inside = members["group"], members["inside"]
    folder = pki.ca.cert.parent
    receiver_ctx = server_context(folder / "server.crt", folder / "server.key", pki.ca.cert)
    url = f"/api/der-groups/{group.pk}/controls/"

    async def session() -> list[bytes]:
        endpoint, port, received = await notification_receiver(receiver_ctx)
        conn = connect(server, pki.ca, pki.device)
        made = await conn.post(
            f"/edev/{inside.pk}/sub",
            subscription_doc(f"/gderp/{group.pk}/derc", f"https://127.0.0.1:{port}/n"),
        )
        assert made.status == 201
        await conn.close()
        await asyncio.sleep(0.5)  # the notifier has looked once: only changes from now on count
        control = await asyncio.to_thread(post, operator_client, url, {"connect": False, "duration_s": 600})
        issued = await asyncio.wait_for(received.get(), 20)
        cid = json.loads(control.content)["id"]
        await asyncio.to_thread(post, operator_client, f"{url}{cid}/cancel/", {})
        cancelled = await asyncio.wait_for(received.get(), 20)
        endpoint.close()
        return [issued, cancelled]

    issued, cancelled = run(session())
    control = GroupControl.objects.get()
    for body in (issued, cancelled):
        assert schema_problem(body) == "" and b"<Notification" in body
        assert f"/gderp/{group.pk}/derc/{control.pk}".encode() in body
    assert b"<currentStatus>1</currentStatus>" in issued
    assert b"<currentStatus>2</currentStatus>" in cancelled
