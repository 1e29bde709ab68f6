"""DNP3 master links: one master stack per outstation, channels shared per host:port.

Every callback from the stack's threads becomes a `LinkEvent` on one queue, so the caller (the
gateway, the EMS link, a benchmark) handles values, commands and link changes in its own thread.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import opendnp3 as dnp3

from apps.dms.engine.dnp3.der_maps import DerMap, encode_setpoint
from apps.dms.engine.dnp3.points import AI, AO, BI, BO, CommandRefused, Point, PointMap, decode_analog
from apps.dms.engine.dnp3.stack import ChannelListener, TlsFiles, manager, now_ms, retry
from apps.standards.dnp3_profile import DEFAULT_AO_VARIATION


@dataclass(frozen=True)
class LinkEvent:
    key: str
    kind: str  # "values" | "link_up" | "link_down" | "answered" | "no_answer"
    t_s: float
    values: dict[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class CommandOutcome:
    ok: bool
    reason: str = ""
    # False when the outstation never answered (no link, a timeout): not a refusal, silence.
    answered: bool = True


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    address: int
    master_address: int = 1
    tls: TlsFiles | None = None


@dataclass
class MasterOptions:
    response_timeout_s: float = 2.0
    event_poll_s: float = 1.0
    integrity_poll_s: float = 60.0
    retry_min_s: float = 0.5
    retry_max_s: float = 30.0
    task_retry_s: float = 5.0  # after a poll failed, wait this long before trying it again


class _Soe(dnp3.ISOEHandler):  # type: ignore[misc]
    def __init__(self, link: MasterLink) -> None:
        super().__init__()
        self.link = link
        self.batch: dict[str, float] = {}

    def BeginFragment(self, info: Any) -> None:
        self.batch = {}

    def EndFragment(self, info: Any) -> None:
        if self.batch:
            self.link.emit("values", values=self.batch)
        self.batch = {}

    def Process(self, info: Any, values: Any) -> None:
        for item in values:
            decoded = self.link.decode(item.value, int(item.index))
            if decoded is not None:
                self.batch[decoded[0]] = decoded[1]


class _App(dnp3.IMasterApplication):  # type: ignore[misc]
    def __init__(self, link: MasterLink) -> None:
        super().__init__()
        self.link = link

    def OnReceiveIIN(self, iin: Any) -> None:
        pass

    def OnTaskStart(self, task_type: Any, task_id: Any) -> None:
        pass

    def OnTaskComplete(self, info: Any) -> None:
        if info.result == dnp3.TaskCompletion.SUCCESS:
            if info.type == dnp3.MasterTaskType.ENABLE_UNSOLICITED:
                self.link.disable_unsolicited()
            self.link.emit("answered")
        elif info.result in (
            dnp3.TaskCompletion.FAILURE_RESPONSE_TIMEOUT,
            dnp3.TaskCompletion.FAILURE_NO_COMMS,
        ):
            self.link.emit("no_answer", detail=str(info.result.name))

    def OnOpen(self) -> None:
        pass

    def OnClose(self) -> None:
        pass

    def AssignClassDuringStartup(self) -> bool:
        return False

    def Now(self) -> Any:
        return dnp3.UTCTimestamp(now_ms())


class MasterChannel:
    """One TCP/TLS client connection; masters for several outstation addresses share it."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: TlsFiles | None,
        options: MasterOptions,
        events: queue.Queue[LinkEvent],
    ) -> None:
        self.host, self.port, self.events = host, port, events
        self.links: list[MasterLink] = []
        self.state = "CLOSED"
        self._listener = ChannelListener(self._on_state)
        name = f"m-{host}:{port}"
        hosts = [dnp3.IPEndpoint(host, port)]
        back_off = retry(options.retry_min_s, options.retry_max_s)
        if tls is None:
            self.channel = manager().AddTCPClient(
                name, dnp3.levels.NOTHING, back_off, hosts, "0.0.0.0", self._listener
            )
        else:
            self.channel = manager().AddTLSClient(
                name, dnp3.levels.NOTHING, back_off, hosts, "0.0.0.0", tls.config(), self._listener
            )

    def _on_state(self, state: str) -> None:
        self.state = state
        kind = "link_up" if state == "OPEN" else "link_down" if state in ("CLOSED", "OPENING") else ""
        if kind:
            for link in list(self.links):  # a copy: the gateway's thread may remove a link meanwhile
                link.emit(kind, detail=state)

    def close(self) -> None:
        self.channel.Shutdown()


class MasterLink:
    """The master for one outstation: startup integrity poll and time sync, periodic event and
    integrity polls, direct operate with the outstation's per-point status as confirmation.

    Unsolicited reporting stays off (docs/adr/0008-dnp3-gateway.md): the binding cannot tell the
    stack not to enable it after the start-up integrity poll, so the link disables it again as soon
    as an outstation has accepted that."""

    def __init__(
        self,
        key: str,
        channel: MasterChannel,
        endpoint: Endpoint,
        points: PointMap | DerMap,
        options: MasterOptions,
        variation: str = DEFAULT_AO_VARIATION,
    ) -> None:
        self.map = points if isinstance(points, DerMap) else DerMap(points)
        self.key, self.points, self.channel, self.variation = key, self.map.points, channel, variation
        self.closed = False
        self.soe = _Soe(self)
        self.app = _App(self)
        cfg = dnp3.MasterStackConfig()
        cfg.master.disableUnsolOnStartup = True
        cfg.master.timeSyncMode = dnp3.TimeSyncMode.LAN
        cfg.master.responseTimeout = _ms(options.response_timeout_s)
        cfg.master.taskRetryPeriod = _ms(options.task_retry_s)
        cfg.link.LocalAddr = endpoint.master_address
        cfg.link.RemoteAddr = endpoint.address
        self.stack = channel.channel.AddMaster(f"m-{key}", self.soe, self.app, cfg)
        self.scans = [
            self.stack.AddClassScan(dnp3.ClassField.AllEventClasses(), _ms(options.event_poll_s), self.soe),
            self.stack.AddClassScan(dnp3.ClassField.AllClasses(), _ms(options.integrity_poll_s), self.soe),
        ]
        channel.links.append(self)
        self.stack.Enable()

    def emit(self, kind: str, values: dict[str, float] | None = None, detail: str = "") -> None:
        if not self.closed:  # a link being taken down must not speak for its successor under the same key
            self.channel.events.put(LinkEvent(self.key, kind, time.time(), values or {}, detail))

    def decode(self, value: Any, index: int) -> tuple[str, float] | None:
        """A measurement (AI/BI) or output feedback (AO/BO status, named `<point>.status`)."""
        kind, scaled = _KINDS.get(type(value), (None, False))
        point: Point | None = self.points.at(kind, index) if kind is not None else None
        if point is None:
            return None
        raw = float(value.value)
        if kind is AO:  # the output's status in the units its commands travel in
            return f"{point.name}.status", decode_analog(point, raw)
        if kind is BO:
            return f"{point.name}.status", raw
        return point.name, decode_analog(point, raw) if scaled else raw

    def operate(self, name: str, value: float) -> Future[CommandOutcome]:
        """Direct operate an analog output in the link's variation (or a binary output: value ≠ 0
        latches on); on a map that enables a mode apart, its enable follows the confirmed value."""
        done: Future[CommandOutcome] = Future()
        point = self.points.named(AO, name) or self.points.named(BO, name)
        if point is None:
            done.set_result(CommandOutcome(False, f"{name} is not an output of {self.points.name}"))
            return done
        if point.kind is BO:
            op = dnp3.OperationType.LATCH_ON if value else dnp3.OperationType.LATCH_OFF
            self._direct_operate(dnp3.ControlRelayOutputBlock(op), point.index, done)
            return done
        try:
            wire = encode_setpoint(point, value, self.variation)
        except CommandRefused as exc:  # not sendable as the device parses it: refused here, nothing sent
            done.set_result(CommandOutcome(False, str(exc)))
            return done
        enable = self.map.enable_for(name)
        if not enable:
            self._direct_operate(_ANALOG_COMMANDS[self.variation](wire), point.index, done)
            return done
        first: Future[CommandOutcome] = Future()
        first.add_done_callback(lambda f: self._then_enable(f.result(), enable, done))
        self._direct_operate(_ANALOG_COMMANDS[self.variation](wire), point.index, first)
        return done

    def _then_enable(self, value_outcome: CommandOutcome, enable: str, done: Future[CommandOutcome]) -> None:
        if not value_outcome.ok:  # a refused value leaves the mode as it was
            done.set_result(value_outcome)
            return
        self.operate(enable, 1.0).add_done_callback(lambda f: done.set_result(_enabled(f.result(), enable)))

    def _direct_operate(self, command: Any, index: int, done: Future[CommandOutcome]) -> None:
        self.stack.DirectOperate(command, index, lambda result: done.set_result(_outcome(result)))

    def disable_unsolicited(self) -> None:
        headers = [dnp3.Header.AllObjects(60, v) for v in (2, 3, 4)]  # classes 1, 2, 3
        self.stack.PerformFunction("disable unsolicited", dnp3.FunctionCode.DISABLE_UNSOLICITED, headers)

    def integrity_poll(self) -> None:
        self.stack.ScanClasses(dnp3.ClassField.AllClasses(), self.soe)

    def close(self) -> None:
        self.stack.Disable()

    def shutdown(self) -> None:
        """Take the link down for good (its DER left the registry's active DNP3 list)."""
        self.closed = True
        self.stack.Shutdown()


_KINDS: dict[type, tuple[Any, bool]] = {
    dnp3.Analog: (AI, True),
    dnp3.Binary: (BI, False),
    dnp3.AnalogOutputStatus: (AO, False),
    dnp3.BinaryOutputStatus: (BO, False),
}


_ANALOG_COMMANDS: dict[str, Any] = {
    "g41v1": dnp3.AnalogOutputInt32,
    "g41v2": dnp3.AnalogOutputInt16,
    "g41v3": dnp3.AnalogOutputFloat32,
    "g41v4": dnp3.AnalogOutputDouble64,
}


def _enabled(outcome: CommandOutcome, enable: str) -> CommandOutcome:
    if outcome.ok:
        return outcome
    return CommandOutcome(
        False, f"value accepted, but enabling its mode ({enable}): {outcome.reason}", outcome.answered
    )


def _ms(seconds: float) -> Any:
    return dnp3.TimeDuration.Milliseconds(int(seconds * 1000))


def _outcome(result: Any) -> CommandOutcome:
    """SUCCESS only when the task finished and every point reported SUCCESS (the confirmation)."""
    if result.summary != dnp3.TaskCompletion.SUCCESS:
        reason = f"no confirmation: {result.summary.name.lower().replace('_', ' ')}"
        return CommandOutcome(False, reason, answered=False)
    for point in result.to_list():
        if point.status != dnp3.CommandStatus.SUCCESS:
            return CommandOutcome(
                False, f"refused by the outstation: {point.status.name.lower().replace('_', ' ')}"
            )
    return CommandOutcome(True)


def _channel_key(endpoint: Endpoint) -> tuple[str, int, bool]:
    return (endpoint.host, endpoint.port, endpoint.tls is not None)


class MasterPool:
    """All master links of one process, channels grouped by (host, port, TLS)."""

    def __init__(self, options: MasterOptions | None = None) -> None:
        self.options = options or MasterOptions()
        self.events: queue.Queue[LinkEvent] = queue.Queue()
        self.channels: dict[tuple[str, int, bool], MasterChannel] = {}
        self.links: dict[str, MasterLink] = {}
        self._lock = threading.Lock()

    def add(
        self, key: str, endpoint: Endpoint, points: PointMap | DerMap, variation: str = DEFAULT_AO_VARIATION
    ) -> MasterLink:
        with self._lock:
            ckey = _channel_key(endpoint)
            channel = self.channels.get(ckey)
            if channel is None:
                channel = MasterChannel(endpoint.host, endpoint.port, endpoint.tls, self.options, self.events)
                self.channels[ckey] = channel
            link = MasterLink(key, channel, endpoint, points, self.options, variation)
            self.links[key] = link
            return link

    def remove(self, key: str) -> None:
        """Take one link down; its channel closes with its last link (the connection is released)."""
        with self._lock:
            link = self.links.pop(key, None)
            if link is None:
                return
            link.shutdown()
            channel = link.channel
            channel.links.remove(link)
            if not channel.links:
                channel.close()
                self.channels = {k: c for k, c in self.channels.items() if c is not channel}

    def drain(self, timeout_s: float = 0.0) -> list[LinkEvent]:
        out: list[LinkEvent] = []
        try:
            out.append(self.events.get(timeout=timeout_s) if timeout_s > 0 else self.events.get_nowait())
            while True:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        return out

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.channels.clear()
        self.links.clear()
