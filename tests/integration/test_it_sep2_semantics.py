"""What the 2030.5 server's documents mean, as a CSIP lab checks it (issue #16 item 6): a DER the
registry suspends is served `enabled=false` on its EndDevice, with a new changedTime, and `true`
again once resumed (before, every EndDevice said `enabled=true` whatever the registry held); Time's
quality follows the host clock; opModMaxLimW is a share of the setMaxW the device reported."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from apps.der_registry import actions
from apps.der_registry.engine.sep2.client import Answer
from apps.der_registry.engine.sep2.resources import KIND_CONTROL, mrid
from apps.der_registry.engine.sep2.simulator import response_doc
from apps.der_registry.engine.sep2.xmlcodec import element, leaf, q, scaled_element
from apps.der_registry.models import Sep2EndDevice, Sep2Response
from tests.integration.test_it_sep2_server import (  # noqa: F401
    Pki,
    aggregator_members,
    connect,
    pki,
    run,
    server,
    valid_get,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_suspended_der_is_served_disabled_and_enabled_again_when_resumed(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)

    def edev() -> tuple[str, int]:
        async def get() -> tuple[str, int]:
            conn = connect(server, pki.ca, pki.device)
            doc = (await valid_get(conn, f"/edev/{der.pk}")).doc()
            await conn.close()
            return doc.findtext(q("enabled")) or "", int(doc.findtext(q("changedTime")) or 0)

        answer: tuple[str, int] = run(get())
        return answer

    enabled, changed = edev()
    assert enabled == "true"
    actions.do_transition_der(None, "test", der.pk, "suspended", "inverter fault")
    suspended, changed_then = edev()
    assert suspended == "false" and changed_then >= changed
    actions.do_transition_der(None, "test", der.pk, "active", "repaired")
    assert edev()[0] == "true"


def _kernel_says_synchronised() -> bool:
    """adjtimex(2) read-only, on a zeroed buffer larger than struct timex: TIME_ERROR (5) while no time
    source keeps the clock (the test's own reading, not the server's `hostclock`)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return int(libc.adjtimex(ctypes.create_string_buffer(512))) != 5


def test_the_time_resource_says_how_the_host_clock_is_kept(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    """Before, Time.quality was always 7 ("intentionally uncoordinated"), which a CSIP client reads as
    "do not synchronise to this server"."""
    enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)

    async def get() -> int:
        conn = connect(server, pki.ca, pki.device)
        doc = (await valid_get(conn, "/tm")).doc()
        await conn.close()
        return int(doc.findtext(q("quality")) or 0)

    assert run(get()) == (3 if _kernel_says_synchronised() else 5)


def test_max_lim_w_is_a_share_of_the_setmaxw_the_device_reported(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    """2030.5: opModMaxLimW is a percentage of setMaxW. The device reported setMaxW = 8 kW on a 10 kW
    nameplate (its configuration awaits agreement); a 6 kW limit is 75 % of its setMaxW. Before, the
    server sent 60 % (of the nameplate), and the device limited itself to 4.8 kW."""
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    settings = element(
        "DERSettings",
        {},
        [leaf("setGradW", 100), scaled_element("setMaxW", 8000), leaf("updatedTime", 1780000000)],
    )

    async def session() -> int:
        conn = connect(server, pki.ca, pki.device)
        assert (await conn.put(f"/edev/{der.pk}/der/0/derg", settings)).status == 204
        await asyncio.to_thread(
            actions.do_issue_setpoint, None, "test", der.pk, control_mode="active_reactive", p_limit_kw=6.0
        )
        doc = (await valid_get(conn, f"/derp/{der.pk}/derc?l=1")).doc()
        await conn.close()
        return int(doc.findtext(f".//{q('opModMaxLimW')}") or 0)

    der.refresh_from_db()
    assert der.np_active_power_kw == 10.0
    assert run(session()) == 7500  # hundredths of a percent


def _end_device_by_sfdi(sfdi: int) -> bytes:
    body = f'<EndDevice xmlns="http://ieee.org/2030.5"><sFDI>{sfdi}</sFDI><changedTime>0</changedTime></EndDevice>'
    return body.encode()


def test_an_aggregator_registers_an_end_device_by_its_sfdi_alone(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
) -> None:
    """lFDI is optional on an EndDevice (2030.5): the sFDI identifies the device among the client's.
    Before, such a POST was refused ("lFDI … is required")."""
    members = aggregator_members(enrolled, pki, "agg-s", "agg-s-pv", "SN-S")

    async def session() -> tuple[Answer, Answer, Answer]:
        conn = connect(server, pki.ca, pki.aggregator)
        answers = (
            await conn.request("POST", "/edev", _end_device_by_sfdi(pki.members[0].sfdi)),
            await conn.request("POST", "/edev", _end_device_by_sfdi(pki.members[2].sfdi)),  # not its own
            await conn.request("POST", "/edev", _end_device_by_sfdi(123456789)),
        )
        await conn.close()
        return answers

    own, foreign, unknown = run(session())
    assert own.status == 201 and own.headers["location"] == f"/edev/{members[0].pk}"
    assert Sep2EndDevice.objects.filter(der=members[0]).exists()
    for refused in (foreign, unknown):
        assert refused.status == 400 and b"No DER managed by this client" in refused.body
    assert Sep2EndDevice.objects.count() == 1


@pytest.fixture
def utility_pen() -> Iterator[int]:
    """The server configured with a utility's PEN (as CREST_SEP2_PEN does at start-up), then reset."""
    from django.apps import apps as django_apps

    config = django_apps.get_app_config("der_registry")
    with override_settings(CREST_SEP2_PEN="40732"):
        config.ready()
    yield 40732
    config.ready()  # the suite's own setting


def test_mrids_carry_the_utility_s_configured_pen(
    server: str,  # noqa: F811
    pki: Pki,  # noqa: F811
    enrolled: Callable[..., Any],
    utility_pen: int,
) -> None:
    """CSIP: an mRID's low 32 bits are the issuer's IANA private enterprise number. Before, every mRID
    ended in 00000000 whatever the utility; now CREST_SEP2_PEN sets it, and a device's Response naming
    such a control is matched to its set point."""
    der = enrolled("active", lfdi=pki.device.lfdi, sfdi=pki.device.sfdi)
    setpoint = actions.do_issue_setpoint(None, "test", der.pk, control_mode="active_reactive", q_kvar=1.0)

    async def session() -> tuple[list[str], Answer]:
        conn = connect(server, pki.ca, pki.device)
        control = (await valid_get(conn, f"/derp/{der.pk}/derc?l=1")).doc()
        program = (await valid_get(conn, f"/derp/{der.pk}")).doc()
        mrids = [control.findtext(f".//{q('mRID')}") or "", program.findtext(q("mRID")) or ""]
        answer = await conn.post("/rsps/0/rsp", response_doc(der.lfdi, mrids[0], 1))
        await conn.close()
        return mrids, answer

    mrids, answer = run(session())
    assert [m[-8:] for m in mrids] == ["00009F1C", "00009F1C"]  # 40732 in hex
    assert answer.status == 201, answer.body
    assert Sep2Response.objects.get(der=der).setpoint_id == setpoint.pk


@pytest.mark.parametrize("value", ["acme", "-1", "4294967296"])
def test_a_pen_that_is_not_one_stops_start_up_with_the_reason(value: str) -> None:
    from django.apps import apps as django_apps

    config = django_apps.get_app_config("der_registry")
    with override_settings(CREST_SEP2_PEN=value), pytest.raises(ImproperlyConfigured) as refused:
        config.ready()
    assert "private enterprise number" in str(refused.value) and value in str(refused.value)
    assert mrid(KIND_CONTROL, 1).endswith("00000000")  # the running setting is left as it was
