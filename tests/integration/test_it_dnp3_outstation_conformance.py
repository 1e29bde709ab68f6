"""The EMS–DMS outstation as a conformance lab sees it: `dnp3py`, an independent pure-Python DNP3
stack, is the master on loopback. What an integrity poll carries, every analog output operated and
read back, SELECT before OPERATE, time synchronisation, the restart and unsolicited function codes,
junk on the port — and the published device profile, held to the point map the outstation serves."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

import pytest
from dnp3.application.fragment import ObjectBlock, RequestFragment, ResponseFragment
from dnp3.application.header import RequestHeader
from dnp3.application.parser import parse_response
from dnp3.application.qualifiers import ObjectHeader
from dnp3.core.enums import CommandStatus, FunctionCode
from dnp3.core.flags import IIN
from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner

from apps.dms.engine.dnp3.der_maps import IEEE1815_2
from apps.dms.engine.dnp3.dms_outstation import DmsAnswer, DmsOutstation
from apps.dms.engine.dnp3.outstation import OutstationChannel
from apps.dms.engine.dnp3.points import (
    AI,
    AO,
    BI,
    BO,
    DER,
    EMS_DMS,
    INT32_MAX,
    SUBSTATION_RTU,
    Kind,
    Point,
    PointMap,
)
from tests.integration.dnp3_support import ports, send_junk

PROFILE = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "dnp3-ems-dms-device-profile.xml"
NS = {"d": "http://www.dnp.org/DNP3/DeviceProfile"}

STATIC_GROUP = {BI: 1, AI: 30, AO: 40}  # the groups an integrity poll reports each kind in
STATIC_GROUP_OF = {**STATIC_GROUP, BO: 10}
EVENT_GROUPS = {2, 11, 32, 42}
EVENT_GROUP = {BI: 2, AI: 32, AO: 42}
COUNT_INDEX = 0x17  # qualifier: 1-octet count, each object prefixed by a 1-octet index
COUNT = 0x07  # qualifier: 1-octet count
T = TypeVar("T")


@dataclass
class Reply:
    """One response as dnp3py parsed it: its IIN, object blocks and where parsing stopped, if it did."""

    iin: IIN
    blocks: list[ObjectBlock]
    malformed: list[str] = field(default_factory=list)

    def groups(self) -> set[tuple[int, int]]:
        return {(b.header.group, b.header.variation) for b in self.blocks}

    def statuses(self) -> list[CommandStatus]:
        """Command status of each object echoed in a control response (g41v4, index-prefixed)."""
        block = next(b for b in self.blocks if b.header.group == 41)
        return [CommandStatus(block.data[1 + i * 10 + 9]) for i in range(block.data[0])]


class _Recording(Master):
    """dnp3py's master, keeping each response it parses (the runner hands it the raw fragment)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fragments: list[ResponseFragment] = []

    def process_response(self, data: bytes) -> Any:
        self.fragments.append(parse_response(data))
        return super().process_response(data)


class Lab:
    """A dnp3py master on one TCP connection to the outstation (link address 10, master 1)."""

    def __init__(self, port: int) -> None:
        self.values = DefaultSOEHandler()
        self.master = _Recording(config=MasterConfig(address=1, outstation_address=10), handler=self.values)
        self.runner = MasterTcpRunner(master=self.master, host="127.0.0.1", port=port, response_timeout=5.0)

    async def ask(self, function: FunctionCode, blocks: list[ObjectBlock] | None = None) -> Reply:
        header = RequestHeader.build(function=function, seq=self.master.next_request_sequence())
        return await self._exchange(RequestFragment(header=header, objects=tuple(blocks or ())))

    async def integrity_poll(self) -> Reply:
        return await self._exchange(self.master.build_integrity_poll())

    async def class_poll(self, event_class: int) -> Reply:
        """A read of one event class (1, 2 or 3)."""
        return await self._exchange(self.master.build_class_poll(*(c == event_class for c in (1, 2, 3))))

    async def _exchange(self, request: RequestFragment) -> Reply:
        self.master.fragments.clear()
        await self.runner.request(request)
        fragments = self.master.fragments
        iin = fragments[-1].header.iin
        malformed = [f"{f.truncation}" for f in fragments if f.truncation is not None]
        return Reply(iin, [b for f in fragments for b in f.objects], malformed)


def talk(port: int, scenario: Callable[[Lab], Awaitable[T]]) -> T:
    """Open a dnp3py master on the outstation, run `scenario` with it, close it."""

    async def run() -> T:
        lab = Lab(port)
        await lab.runner.open()
        try:
            return await scenario(lab)
        finally:
            await lab.runner.close()

    return asyncio.run(run())


def analog_outputs(values: dict[str, float]) -> ObjectBlock:
    """One g41v4 (double) block setting each named output, on the wire at its documented scale."""
    data = bytearray([len(values)])
    for name, value in values.items():
        point = EMS_DMS.named(AO, name)
        assert point is not None
        data += bytes([point.index]) + struct.pack("<d", value * point.scale) + b"\x00"
    return ObjectBlock(ObjectHeader(41, 4, COUNT_INDEX), bytes(data))


def time_object(variation: int, ms: int) -> ObjectBlock:
    return ObjectBlock(ObjectHeader(50, variation, COUNT), bytes([1]) + ms.to_bytes(6, "little"))


def static_indices(reply: Reply, group: int) -> set[int]:
    """Indices the static block(s) of a group cover (start–stop qualifiers 0x00 / 0x01)."""
    out: set[int] = set()
    for b in reply.blocks:
        if b.header.group == group:
            assert b.header.qualifier in (0x00, 0x01), (
                f"g{group} static block with qualifier {b.header.qualifier}"
            )
            width = 1 if b.header.qualifier == 0x00 else 2
            start = int.from_bytes(b.data[:width], "little")
            stop = int.from_bytes(b.data[width : 2 * width], "little")
            out |= set(range(start, stop + 1))
    return out


@pytest.fixture
def dms() -> Iterator[tuple[DmsOutstation, int, list[str]]]:
    port, refusals = ports(1), []
    station = DmsOutstation(port, on_refused=refusals.append)
    yield station, port, refusals
    station.close()


REQUEST = {  # every analog output, with fractions its status must keep; interval_id last closes it
    "q_request_kvar": -350.125,
    "v_set_pu": 1.02345,
    "pv_curtail_kw": 12.5,
    "dr_kw": 40.25,
    "interval_s": 300.5,
    "interval_id": 77,
}


def test_it_answers_an_integrity_poll_with_the_documented_object_types_only_and_well_formed(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    station, port, _ = dms
    station.answer(DmsAnswer(q_achieved_kvar=-341.7, q_min_kvar=-812.3, q_max_kvar=604.9, interval_id=5))
    reply = talk(port, Lab.integrity_poll)
    assert reply.malformed == []
    documented = {(STATIC_GROUP[k], v) for k, v in ((BI, 2), (AI, 1), (AO, 1))}
    events = {(EVENT_GROUP[k], 1) for k in (BI, AI, AO)}
    assert documented <= reply.groups() <= documented | events  # no g3, g10, g20, g21, g50, g110
    # every documented point is there, and dnp3py reads the answer back at the documented scale
    for kind, group in STATIC_GROUP.items():
        assert {p.index for p in EMS_DMS.of_kind(kind)} <= static_indices(reply, group), f"group {group}"
    assert _analog_inputs(port)[0] / EMS_DMS.by_name("q_achieved_kvar").scale == pytest.approx(-341.7)


def _analog_inputs(port: int) -> dict[int, float]:
    async def poll(lab: Lab) -> dict[int, float]:
        await lab.integrity_poll()
        return {i: v.value for i, v in lab.values.analog_inputs.items()}

    return talk(port, poll)


ONLINE = 0x01  # quality flag bit of binary, analog and analog output status objects


def test_it_serves_exactly_the_documented_points_each_online(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    """An integrity poll carries the documented indices of each object type and nothing above them:
    no padding a master would have to know to ignore. Every documented input is ONLINE once the DMS
    published it."""
    station, port, _ = dms
    station.answer(DmsAnswer(q_achieved_kvar=-1.0, q_min_kvar=-2.0, q_max_kvar=3.0, interval_id=1))
    station.measured(p_kw=900.0, q_kvar=-40.0, v_pu=1.01, at_s=time.time())
    station.capability(q_min_kvar=-2.0, q_max_kvar=3.0, interval_id=1)

    async def poll(lab: Lab) -> tuple[Reply, dict[Kind, dict[int, int]]]:
        reply = await lab.integrity_poll()
        quality = {
            BI: {i: v.quality for i, v in lab.values.binary_inputs.items()},
            AI: {i: v.quality for i, v in lab.values.analog_inputs.items()},
        }
        return reply, quality

    reply, quality = talk(port, poll)
    for kind, group in STATIC_GROUP.items():
        assert static_indices(reply, group) == {p.index for p in EMS_DMS.of_kind(kind)}, f"group {group}"
    for kind, flags_of in quality.items():
        assert flags_of and all(flags & ONLINE for flags in flags_of.values()), f"{kind}: {flags_of}"


@pytest.mark.parametrize("points", [DER, IEEE1815_2, SUBSTATION_RTU], ids=lambda m: m.name)
def test_every_outstation_map_is_served_with_exactly_its_points(points: PointMap) -> None:
    """The DER simulators and the substation RTU use the same outstation: an integrity poll carries
    exactly each map's indices of each type, and a class 0 poll nothing of types the map lacks."""
    port = ports(1)
    channel = OutstationChannel(port)
    channel.add(10, points, on_command=lambda point, value: value)
    try:
        reply = talk(port, Lab.integrity_poll)
    finally:
        channel.close()
    assert reply.malformed == []
    served = {STATIC_GROUP_OF[kind] for kind in Kind if points.of_kind(kind)}
    assert {group for group, _ in reply.groups()} - EVENT_GROUPS == served
    for kind in Kind:
        if points.of_kind(kind):
            indices = {p.index for p in points.of_kind(kind)}
            assert static_indices(reply, STATIC_GROUP_OF[kind]) == indices, f"{points.name} {kind}"


def test_it_reads_back_every_analog_output_at_its_documented_scale(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    station, port, _ = dms

    async def operate_then_poll(lab: Lab) -> tuple[list[CommandStatus], dict[int, float]]:
        statuses: list[CommandStatus] = []
        for name, value in [*REQUEST.items(), ("capability_request", 78)]:
            reply = await lab.ask(FunctionCode.DIRECT_OPERATE, [analog_outputs({name: value})])
            statuses += reply.statuses()
        await lab.integrity_poll()
        return statuses, {i: v.value for i, v in lab.values.analog_outputs.items()}

    statuses, status_values = talk(port, operate_then_poll)
    assert statuses == [CommandStatus.SUCCESS] * 7
    for name, value in [*REQUEST.items(), ("capability_request", 78)]:
        point = EMS_DMS.named(AO, name)
        assert point is not None
        # the request's values are whole at the documented scale: they must come back exactly
        assert status_values[point.index] / point.scale == pytest.approx(value, rel=1e-12), name
    seen = station.latest()
    assert seen is not None and (seen.q_request_kvar, seen.v_set_pu, seen.interval_id) == (
        -350.125,
        1.02345,
        77,
    )


def test_it_refuses_an_out_of_range_select_as_operate_would_and_takes_nothing(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    station, port, refusals = dms

    async def select(lab: Lab) -> Reply:
        return await lab.ask(FunctionCode.SELECT, [analog_outputs({"v_set_pu": 1.5})])

    assert talk(port, select).statuses() == [CommandStatus.OUT_OF_RANGE]
    assert "outside 0.9 … 1.1 pu" in station.station.commands.last_refusal
    assert refusals and "v_set_pu" in refusals[0]  # the gateway raises its alarm for it, as for an operate
    assert station.request.received == set() and station.latest() is None


def test_it_delivers_a_request_by_select_then_operate_and_not_by_operate_alone(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    station, port, _ = dms

    async def operate_alone_then_select_before_operate(lab: Lab) -> tuple[Reply, Reply, Reply]:
        alone = await lab.ask(FunctionCode.OPERATE, [analog_outputs(REQUEST)])
        selected = await lab.ask(FunctionCode.SELECT, [analog_outputs(REQUEST)])
        # OPERATE follows its SELECT with the next sequence number and the same objects
        operated = await lab.ask(FunctionCode.OPERATE, [analog_outputs(REQUEST)])
        return alone, selected, operated

    alone, selected, operated = talk(port, operate_alone_then_select_before_operate)
    assert alone.statuses() == [CommandStatus.NO_SELECT] * len(REQUEST)
    assert selected.statuses() == [CommandStatus.SUCCESS] * len(REQUEST)
    assert operated.statuses() == [CommandStatus.SUCCESS] * len(REQUEST)
    assert len(station.completed) == 1  # the operate alone took nothing
    seen = station.completed[0]
    assert (seen.q_request_kvar, seen.v_set_pu, seen.pv_curtail_kw, seen.dr_kw, seen.interval_s) == (
        -350.125,
        1.02345,
        12.5,
        40.25,
        300.5,
    )
    assert seen.interval_id == 77


def test_it_needs_time_until_the_master_runs_the_lan_time_sync(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    station, port, _ = dms

    async def lan_sync(lab: Lab) -> tuple[Reply, Reply, Reply]:
        before = await lab.integrity_poll()
        await lab.ask(FunctionCode.RECORD_CURRENT_TIME)
        written = await lab.ask(FunctionCode.WRITE, [time_object(3, int(time.time() * 1000))])
        return before, written, await lab.integrity_poll()

    before, written, after = talk(port, lan_sync)
    assert IIN.NEED_TIME in before.iin
    assert IIN.NO_FUNC_CODE_SUPPORT not in written.iin and IIN.PARAMETER_ERROR not in written.iin
    assert IIN.NEED_TIME not in after.iin
    assert abs(station.station.app.clock_offset_ms) < 2000


def test_it_takes_the_time_written_as_g50v1(dms: tuple[DmsOutstation, int, list[str]]) -> None:
    station, port, _ = dms
    hour_ahead_ms = int(time.time() * 1000) + 3_600_000

    async def write_time(lab: Lab) -> Reply:
        await lab.ask(FunctionCode.WRITE, [time_object(1, hour_ahead_ms)])
        return await lab.integrity_poll()

    assert IIN.NEED_TIME not in talk(port, write_time).iin
    assert station.station.app.clock_offset_ms == pytest.approx(3_600_000, abs=2000)


def test_it_clears_device_restart_when_the_master_writes_iin1_7(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    _, port, _ = dms

    async def clear_restart(lab: Lab) -> tuple[Reply, Reply]:
        before = await lab.integrity_poll()
        # g80v1, index 7 only, written 0
        await lab.ask(FunctionCode.WRITE, [ObjectBlock(ObjectHeader(80, 1, 0x00), bytes([7, 7, 0]))])
        return before, await lab.integrity_poll()

    before, after = talk(port, clear_restart)
    assert IIN.DEVICE_RESTART in before.iin and IIN.DEVICE_RESTART not in after.iin


def _supported_function_codes() -> set[int]:
    root = ElementTree.parse(PROFILE).getroot()
    table = root.find("d:referenceDevice/d:implementationTable/d:table", NS)
    assert table is not None
    codes = {int(e.text or "") for e in table.iterfind(".//d:request/d:functionCode", NS)}
    return codes


def test_it_answers_restart_and_unsolicited_function_codes_as_its_profile_says(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    _, port, _ = dms
    asked = (
        FunctionCode.COLD_RESTART,
        FunctionCode.WARM_RESTART,
        FunctionCode.ENABLE_UNSOLICITED,
        FunctionCode.DISABLE_UNSOLICITED,
    )

    async def each(lab: Lab) -> list[Reply]:
        return [await lab.ask(code) for code in asked]

    supported = _supported_function_codes()
    for code, reply in zip(asked, talk(port, each), strict=True):
        refused = IIN.NO_FUNC_CODE_SUPPORT in reply.iin
        assert refused == (int(code) not in supported), code.name
    assert {int(FunctionCode.WRITE), int(FunctionCode.RECORD_CURRENT_TIME)} <= supported


def test_it_keeps_serving_a_real_master_after_junk_on_its_port(
    dms: tuple[DmsOutstation, int, list[str]],
) -> None:
    station, port, _ = dms
    for _ in range(2):
        send_junk(port)

    async def operate(lab: Lab) -> Reply:
        return await lab.ask(FunctionCode.DIRECT_OPERATE, [analog_outputs(REQUEST)])

    assert talk(port, operate).statuses() == [CommandStatus.SUCCESS] * len(REQUEST)
    seen = station.latest()
    assert seen is not None and seen.interval_id == 77
    assert talk(port, Lab.integrity_poll).malformed == []


# --- the published device profile ------------------------------------------------------------------

SECTIONS = {
    BI: ("binaryInputPoints", "binaryInput"),
    AI: ("analogInputPoints", "analogInput"),
    AO: ("analogOutputPoints", "analogOutput"),
}


def _profile_points(kind: Kind) -> list[ElementTree.Element]:
    root = ElementTree.parse(PROFILE).getroot()
    section, element = SECTIONS[kind]
    return root.findall(f"d:referenceDevice/d:dataPointsList/d:{section}/d:dataPoints/d:{element}", NS)


def _field(e: ElementTree.Element, name: str) -> str:
    found = e.find(f"d:{name}", NS)
    assert found is not None, f"{name} missing"
    return found.text or ""


def _scaling(point: Point) -> dict[str, float]:
    """What the profile states of a point's scaling: engineering value = wire × scaleFactor."""
    out = {"scaleFactor": 1 / point.scale}
    if point.kind is AO:
        out |= {
            "minTransmittedValue": point.low * point.scale,
            "maxTransmittedValue": point.high * point.scale,
        }
    return out


def test_the_published_device_profile_lists_exactly_the_points_of_the_map_the_outstation_serves() -> None:
    for kind in (BI, AI, AO):
        listed = _profile_points(kind)
        points = EMS_DMS.of_kind(kind)
        assert [(int(_field(e, "index")), _field(e, "name")) for e in listed] == [
            (p.index, p.name) for p in points
        ], kind
        for e, point in zip(listed, points, strict=True):
            if kind is BI:
                continue
            assert _field(e, "units") == point.unit
            for name, value in _scaling(point).items():
                assert float(_field(e, name)) == pytest.approx(value), (point.name, name)
            if kind is AO:  # the status is a 32-bit integer: the whole range fits it at this scale
                assert max(-point.low, point.high) * point.scale <= INT32_MAX, point.name


def test_the_published_device_profile_names_the_level_it_claims() -> None:
    root = ElementTree.parse(PROFILE).getroot()
    level = root.find(
        "d:referenceDevice/d:configuration/d:deviceConfig/d:dnpLevelSupported/d:currentValue/d:outStation", NS
    )
    assert level is not None and [child.tag.split("}")[1] for child in level] == ["level2"]


def test_each_point_reports_its_changes_in_the_event_class_its_map_gives_it() -> None:
    """A point's `event_class` is what the outstation serves: class 2 events for a class 2 point,
    none at all for a class 0 (static only) point, class 1 for the rest."""
    points = PointMap(
        "classes",
        (
            Point(AI, 0, "fast", "kW", "class 2", event_class=2),
            Point(AI, 1, "static", "kW", "class 0: never an event", event_class=0),
            Point(AI, 2, "usual", "kW", "class 1"),
        ),
    )
    port = ports(1)
    channel = OutstationChannel(port)
    station = channel.add(10, points, on_command=lambda point, value: value)

    async def scenario(lab: Lab) -> dict[int, set[int]]:
        await lab.integrity_poll()  # reads the statics, clears the start-up events
        station.update({"fast": 5.0, "static": 6.0, "usual": 7.0})
        seen: dict[int, set[int]] = {}
        for event_class in (1, 2, 3):
            seen[event_class] = event_indices(await lab.class_poll(event_class), 32)
        return seen

    try:
        seen = talk(port, scenario)
    finally:
        channel.close()
    assert seen == {1: {2}, 2: {0}, 3: set()}


def event_indices(reply: Reply, group: int) -> set[int]:
    """Indices of the events of a group in a reply (1-octet count, 1- or 2-octet index prefix)."""
    out: set[int] = set()
    for b in reply.blocks:
        if b.header.group != group:
            continue
        width = {0x17: 1, 0x28: 2}[b.header.qualifier]
        size = (len(b.data) - width) // int.from_bytes(b.data[:width], "little") - width
        offset = width
        while offset < len(b.data):
            out.add(int.from_bytes(b.data[offset : offset + width], "little"))
            offset += width + size
    return out
