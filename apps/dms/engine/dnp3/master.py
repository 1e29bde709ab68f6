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

from apps.dms.engine.dnp3.points import AI, AO, BI, BO, Point, PointMap, decode_analog
from apps.dms.engine.dnp3.stack import ChannelListener, TlsFiles, manager, now_ms, retry


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
            for link in self.links:
                link.emit(kind, detail=state)

    def close(self) -> None:
        self.channel.Shutdown()


class MasterLink:
    """The master for one outstation: startup integrity poll and time sync, periodic event and
    integrity polls, direct operate with the outstation's per-point status as confirmation."""

    def __init__(
        self, key: str, channel: MasterChannel, endpoint: Endpoint, points: PointMap, options: MasterOptions
    ) -> None:
        self.key, self.points, self.channel = key, points, channel
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
        self.channel.events.put(LinkEvent(self.key, kind, time.time(), values or {}, detail))

    def decode(self, value: Any, index: int) -> tuple[str, float] | None:
        """A measurement (AI/BI) or output feedback (AO/BO status, named `<point>.status`)."""
        kind, scaled = _KINDS.get(type(value), (None, False))
        point: Point | None = self.points.at(kind, index) if kind is not None else None
        if point is None:
            return None
        raw = float(value.value)
        if kind in (AO, BO):
            return f"{point.name}.status", raw
        return point.name, decode_analog(point, raw) if scaled else raw

    def operate(self, name: str, value: float) -> Future[CommandOutcome]:
        """Direct operate an analog output (or a binary output: value ≠ 0 latches on)."""
        done: Future[CommandOutcome] = Future()
        point = self.points.named(AO, name) or self.points.named(BO, name)
        if point is None:
            done.set_result(CommandOutcome(False, f"{name} is not an output of {self.points.name}"))
            return done
        if point.kind is AO:
            command: Any = dnp3.AnalogOutputDouble64(float(value))
        else:
            op = dnp3.OperationType.LATCH_ON if value else dnp3.OperationType.LATCH_OFF
            command = dnp3.ControlRelayOutputBlock(op)
        self.stack.DirectOperate(command, point.index, lambda result: done.set_result(_outcome(result)))
        return done

    def integrity_poll(self) -> None:
        self.stack.ScanClasses(dnp3.ClassField.AllClasses(), self.soe)

    def close(self) -> None:
        self.stack.Disable()


_KINDS: dict[type, tuple[Any, bool]] = {
    dnp3.Analog: (AI, True),
    dnp3.Binary: (BI, False),
    dnp3.AnalogOutputStatus: (AO, False),
    dnp3.BinaryOutputStatus: (BO, False),
}


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


class MasterPool:
    """All master links of one process, channels grouped by (host, port, TLS)."""

    def __init__(self, options: MasterOptions | None = None) -> None:
        self.options = options or MasterOptions()
        self.events: queue.Queue[LinkEvent] = queue.Queue()
        self.channels: dict[tuple[str, int, bool], MasterChannel] = {}
        self.links: dict[str, MasterLink] = {}
        self._lock = threading.Lock()

    def add(self, key: str, endpoint: Endpoint, points: PointMap) -> MasterLink:
        with self._lock:
            ckey = (endpoint.host, endpoint.port, endpoint.tls is not None)
            channel = self.channels.get(ckey)
            if channel is None:
                channel = MasterChannel(endpoint.host, endpoint.port, endpoint.tls, self.options, self.events)
                self.channels[ckey] = channel
            link = MasterLink(key, channel, endpoint, points, self.options)
            self.links[key] = link
            return link

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
