"""The DNP3 gateway as a polite master, against an independent outstation: dnp3py's IEEE 1815.2
(MESA-DER) DER simulator, a pure-Python stack sharing no code with ours, on loopback.

Set points reach it at the profile's indices in the analog output variation the DER's registry entry
names, and come back confirmed; what it refuses (or what its variation cannot carry) is shown to the
operator as failed with the reason; unsolicited reporting ends up off, as ADR 0008 says; and a DER
suspended, decommissioned or re-addressed in the registry is dropped or re-linked by the running
gateway within one poll, with no communication alarm for a DER that is no longer active."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from dnp3.application.parser import parse_request
from dnp3.core.enums import FunctionCode
from dnp3.mesa import MesaOutstation, create_mesa_outstation

from apps.alarms.models import Alarm
from apps.der_registry import actions
from apps.der_registry.adapters import record_from_der
from apps.der_registry.engine.ieee1547 import Ratings
from apps.der_registry.forms import initial_from_der
from apps.der_registry.models import DER, LatestMonitoring, SetPoint
from apps.dms.engine.dnp3.master import MasterOptions
from apps.dms.gateway import Dnp3Gateway, GatewayOptions
from tests.conftest import dnp3
from tests.integration.dnp3_support import ports, until

POLL_S = 0.5
MASTER = MasterOptions(
    response_timeout_s=2.0, event_poll_s=POLL_S, integrity_poll_s=60.0, retry_min_s=0.1, retry_max_s=0.5
)
TIMEOUT_S = 1.5  # the gateway's communication alarm timeout
# One poll, plus one gateway round and a query: how soon a registry change must show on the links.
WITHIN_ONE_POLL_S = POLL_S + 0.5
UNSOLICITED = (FunctionCode.ENABLE_UNSOLICITED.name, FunctionCode.DISABLE_UNSOLICITED.name)


class MesaDer:
    """A dnp3py MESA-DER outstation on loopback in a thread of its own, recording every request's
    function code and object headers as they arrive on the wire."""

    def __init__(self, profile: Path, port: int, address: int, host: str = "127.0.0.1") -> None:
        self.station: MesaOutstation = create_mesa_outstation(
            profile_path=profile, host=host, port=port, address=address, master_address=1
        )
        self.requests: list[tuple[str, list[tuple[int, int]]]] = []
        handle = self.station.outstation.process_request

        def recording(data: bytes, *, peer: Any = None) -> Any:
            headers = [(b.header.group, b.header.variation) for b in parse_request(data).objects]
            self.requests.append((FunctionCode(data[1]).name, headers))
            return handle(data, peer=peer)

        self.station.outstation.process_request = recording  # type: ignore[method-assign]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.station.run(),))

    def measuring(self, p_w: float, q_var: float, v_ll_dv: float, v_ref_dv: float, f_mhz: float) -> MesaDer:
        """Its system meter and state before it starts (profile units: W, var, 0.1 V, mHz)."""
        db = self.station.database
        for index, value in ((537, p_w), (541, q_var), (553, v_ll_dv), (29, v_ref_dv), (536, f_mhz)):
            db.update_analog_input(index, value)
        db.update_binary_input(19, True)  # connected and generating
        db.update_binary_input(23, True)  # connect/disconnect switch closed
        return self

    def start(self) -> MesaDer:
        self.thread.start()
        assert until(lambda: self.station.is_running, limit_s=10)
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.station.stop(), self.loop).result(timeout=10)
            self.thread.join(timeout=10)

    def setting(self, ao: int) -> float:
        value = self.station.ao_store.get(ao)
        assert value is not None
        return value.value

    def latched(self, bo: int) -> bool:
        point = self.station.database.get_binary_output(bo)
        return bool(point is not None and point.value)

    def operates(self) -> list[list[tuple[int, int]]]:
        return [headers for function, headers in self.requests if function == "DIRECT_OPERATE"]


@pytest.fixture
def profile(tmp_path: Path) -> Callable[[float, float], Path]:
    """The MESA-DER full profile with the device's own set point ranges (W, var) for AO509 / AO511,
    as a real inverter's point list states its ratings."""

    def make(p_max_w: float, q_max_var: float) -> Path:
        source = files("dnp3.mesa") / "data" / "profiles" / "full.json"
        data = json.loads(source.read_text())
        for point in data["AO"]["points"]:
            if point["point_index"] == 509:
                point["minimum"], point["maximum"] = 0, p_max_w
            if point["point_index"] == 511:
                point["minimum"], point["maximum"] = -q_max_var, q_max_var
        path = tmp_path / f"mesa-{p_max_w:g}-{q_max_var:g}.json"
        path.write_text(json.dumps(data))
        return path

    return make


@pytest.fixture
def devices() -> Iterator[list[MesaDer]]:
    started: list[MesaDer] = []
    yield started
    for device in started:
        device.stop()


@pytest.fixture
def gateway() -> Iterator[Dnp3Gateway]:
    gw = Dnp3Gateway(GatewayOptions(timeout_s=TIMEOUT_S, record_every_s=0.0, master=MASTER))
    yield gw
    gw.close()


def mesa_der(enrolled: Callable[..., Any], port: int, variation: str, **changes: Any) -> Any:
    """An active utility DER the registry says speaks IEEE 1815.2 at 127.0.0.1:port, address 10."""
    fields = dnp3(10, "127.0.0.1", dnp3_port=port, dnp3_point_map="ieee1815_2", dnp3_ao_variation=variation)
    return enrolled("active", **{**fields, **changes})


def settled(sp: SetPoint) -> bool:
    return SetPoint.objects.get(pk=sp.pk).status != "issued"


def comm_alarm(der: Any) -> Any:
    return Alarm.objects.filter(kind=Alarm.Kind.COMM_FAILURE, source_type="der", source_id=str(der.pk))


@pytest.mark.parametrize("variation", ["g41v1", "g41v2"])
def test_it_a_set_point_reaches_an_ieee1815_2_der_in_its_variation_and_comes_back_confirmed(
    enrolled: Callable[..., Any],
    gateway: Dnp3Gateway,
    profile: Callable[[float, float], Path],
    devices: list[MesaDer],
    variation: str,
) -> None:
    port = ports(1)
    der = mesa_der(enrolled, port, variation)
    device = MesaDer(profile(10_000, 4_840), port, 10).measuring(6_000, -1_200, 2_424, 2_400, 60_000)
    devices.append(device.start())
    gateway.load()

    def measured() -> bool:
        gateway.flush()
        return LatestMonitoring.objects.filter(der=der, p_kw__isnull=False, v_pu__isnull=False).exists()

    assert until(measured, gateway.step, 30)
    latest = LatestMonitoring.objects.get(der=der)
    assert (latest.p_kw, latest.q_kvar, latest.v_pu, latest.f_hz) == pytest.approx((6.0, -1.2, 1.01, 60.0))
    assert (latest.operating_state, latest.connection_status) == ("on", "connected")

    sp = actions.do_issue_setpoint(
        None, "system", der.pk, control_mode="active_reactive", p_limit_kw=6.5, q_kvar=-3.96
    )
    assert until(lambda: settled(sp), gateway.step, 30)
    sp.refresh_from_db()
    assert (sp.status, sp.note) == ("acknowledged", "confirmed by the device")
    # At the profile's indices, in W and var, in the variation the registry names; each mode enabled.
    assert (device.setting(509), device.setting(511)) == (6_500, -3_960)
    assert device.latched(17) and device.latched(27)
    analog = [h for headers in device.operates() for h in headers if h[0] == 41]
    assert analog == [(41, int(variation[-1]))] * 2
    # The device reports the set point in force (AI621 follows AO511), and the gateway reads it back.
    key = str(der.pk)
    assert until(lambda: gateway.values[key].get("q_set_kvar") == pytest.approx(-3.96), gateway.step, 10)
    # Unsolicited reporting is off at the end of the start-up, as ADR 0008 says: the last word the
    # master said about it was DISABLE.
    said = [function for function, _ in device.requests if function in UNSOLICITED]
    assert said and said[-1] == FunctionCode.DISABLE_UNSOLICITED.name, said
    assert not Alarm.objects.filter(cleared_at__isnull=True).exists()


def test_it_what_the_outstation_refuses_or_its_variation_cannot_carry_is_shown_refused_with_the_reason(
    enrolled: Callable[..., Any],
    gateway: Dnp3Gateway,
    profile: Callable[[float, float], Path],
    devices: list[MesaDer],
    operator_client: Client,
) -> None:
    port = ports(1)
    rated = Ratings(
        active_power_kw=50.0,
        apparent_power_kva=55.0,
        reactive_injected_kvar=22.0,
        reactive_absorbed_kvar=22.0,
        v_nominal_v=240.0,
        v_min_v=211.2,
        v_max_v=264.0,
    )
    der = mesa_der(enrolled, port, "g41v2", nameplate=rated)
    # The device's own point list allows ±2 kvar only: the registry and the device disagree.
    device = MesaDer(profile(50_000, 2_000), port, 10).measuring(30_000, 0, 2_400, 2_400, 60_000)
    devices.append(device.start())
    before = (device.setting(509), device.setting(511))
    gateway.load()
    assert until(lambda: str(der.pk) in gateway.values, gateway.step, 30)

    too_big = actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", p_limit_kw=40)
    assert until(lambda: settled(too_big), gateway.step, 30)
    too_big.refresh_from_db()
    assert too_big.status == "failed"
    assert "outside what g41v2 carries" in too_big.note and "nothing sent" in too_big.note
    assert device.operates() == [] and device.setting(509) == before[0]

    refused = actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=4.0)
    assert until(lambda: settled(refused), gateway.step, 30)
    refused.refresh_from_db()
    assert (refused.status, refused.note) == ("failed", "refused by the outstation: out of range")
    assert device.setting(511) == before[1] and not device.latched(27)  # nothing changed, mode not enabled

    assert not SetPoint.objects.filter(der=der, status="acknowledged").exists()
    page = operator_client.get(reverse("der_registry:detail", args=[der.pk])).content.decode()
    assert page.count(">failed<") == 2
    assert "refused by the outstation: out of range" in page and "outside what g41v2 carries" in page


def test_it_the_running_gateway_relinks_a_readdressed_der_and_drops_a_retired_one_within_one_poll(
    enrolled: Callable[..., Any],
    gateway: Dnp3Gateway,
    profile: Callable[[float, float], Path],
    devices: list[MesaDer],
) -> None:
    base = ports(3)
    mesa = profile(10_000, 4_840)
    first, moved, other = (
        MesaDer(mesa, base, 10).measuring(5_000, 0, 2_400, 2_400, 60_000),
        MesaDer(mesa, base + 1, 11).measuring(4_000, 0, 2_400, 2_400, 60_000),
        # At another address: its own segment, so the first one's silence is its own alarm at once.
        MesaDer(mesa, base + 2, 10, "127.0.0.2").measuring(3_000, 0, 2_400, 2_400, 60_000),
    )
    for device in (first, moved, other):
        devices.append(device.start())
    der = mesa_der(enrolled, base, "g41v1", name="mesa-a", serial_number="SN-MESA-A")
    retired = mesa_der(
        enrolled, base + 2, "g41v1", name="mesa-b", serial_number="SN-MESA-B", dnp3_host="127.0.0.2"
    )
    gateway.load()
    assert until(lambda: {str(der.pk), str(retired.pk)} <= set(gateway.values), gateway.step, 30)

    # Its device goes silent: the gateway raises its communication alarm.
    first.stop()
    assert until(lambda: comm_alarm(der).filter(cleared_at__isnull=True).exists(), gateway.step, 30)

    # Re-addressed in the registry (new port and link address): re-linked within one poll, the old
    # address's alarm cleared, and the device at the new address polled and commanded.
    rec = replace(record_from_der(der), dnp3_port=base + 1, dnp3_outstation_address=11)
    actions.do_update_der(None, "system", der.pk, rec)
    assert moved.requests == []
    run_for(gateway, WITHIN_ONE_POLL_S)
    assert moved.requests, "the device at the new address has not heard from the gateway within one poll"
    assert not comm_alarm(der).filter(cleared_at__isnull=True).exists()
    sp = actions.do_issue_setpoint(None, "system", der.pk, control_mode="active_reactive", q_kvar=1.5)
    assert until(lambda: settled(sp), gateway.step, 30)
    assert SetPoint.objects.get(pk=sp.pk).status == "acknowledged" and moved.setting(511) == 1_500

    # Suspended, and the other one decommissioned: both dropped within one poll, their devices no
    # longer polled, and no communication alarm once those devices fall silent.
    actions.do_transition_der(None, "system", der.pk, "suspended", "inverter replacement")
    actions.do_transition_der(None, "system", retired.pk, "decommissioned", "removed from site")
    run_for(gateway, WITHIN_ONE_POLL_S)
    heard = len(moved.requests) + len(other.requests)
    run_for(gateway, 2 * POLL_S)
    assert len(moved.requests) + len(other.requests) == heard, "still polled after one poll"
    assert not gateway.pool.channels  # the connections are released
    moved.stop()
    other.stop()
    run_for(gateway, TIMEOUT_S + 2 * POLL_S)
    assert not comm_alarm(der).filter(cleared_at__isnull=True).exists()
    assert not comm_alarm(retired).exists()


def run_for(gateway: Dnp3Gateway, seconds: float) -> None:
    """The gateway running its loop for this long (as `run_dnp3_gateway` does)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        gateway.step(0.05)


def test_it_takes_a_ders_dnp3_profile_through_the_api_and_the_form_and_refuses_what_cannot_work(
    admin_client: Client, ieee13: Any
) -> None:
    body = {
        "name": "mesa-api",
        "serial_number": "SN-MESA-API",
        **{k: v for k, v in dnp3(12, "127.0.0.1").items() if v is not None},
        "active_power_kw": 10,
        "apparent_power_kva": 11,
        "reactive_injected_kvar": 4.84,
        "reactive_absorbed_kvar": 4.84,
        "v_nominal_v": 240,
        "v_min_v": 211.2,
        "v_max_v": 264,
        "feeder": "ieee13",
        "bus": "675",
        "phases": [1],
        "ownership": "utility",
    }
    refused = admin_client.post("/api/ders/", {**body, "dnp3_ao_variation": "g41v1"}, "application/json")
    assert refused.status_code == 400
    assert "g41v3 or g41v4" in json.loads(refused.content)["errors"]["dnp3_ao_variation"][0]
    unknown = admin_client.post("/api/ders/", {**body, "dnp3_point_map": "mesa"}, "application/json")
    assert unknown.status_code == 400 and "dnp3_point_map" in json.loads(unknown.content)["errors"]
    assert not DER.objects.exists()

    mesa = {"dnp3_point_map": "ieee1815_2", "dnp3_ao_variation": "g41v2"}
    created = admin_client.post("/api/ders/", {**body, **mesa}, "application/json")
    assert created.status_code == 201, created.content
    assert {k: json.loads(created.content)[k] for k in mesa} == mesa

    der = DER.objects.get(name="mesa-api")
    form = {k: v for k, v in initial_from_der(der).items() if v is not None}
    form.update(dnp3_point_map="compact", dnp3_ao_variation="g41v2")  # compact with an integer variation
    page = admin_client.post(reverse("der_registry:edit", args=[der.pk]), form)
    assert page.status_code == 400 and "g41v3 or g41v4" in page.content.decode()
    der.refresh_from_db()
    assert (der.dnp3_point_map, der.dnp3_ao_variation) == ("ieee1815_2", "g41v2")  # nothing stored
