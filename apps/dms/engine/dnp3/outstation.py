"""A DNP3 outstation serving one point map: scaled analog inputs, binary inputs, and analog /
binary outputs handed to a callback that accepts (returns the value in force) or refuses. A SELECT
is put to an optional check first, so it is refused for the reasons an OPERATE would be."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import opendnp3 as dnp3
import opendnp3_points

from apps.dms.engine.dnp3.points import AI, AO, BI, BO, CommandRefused, Point, PointMap, encode_analog
from apps.dms.engine.dnp3.stack import ChannelListener, TlsFiles, manager, now_ms

log = logging.getLogger(__name__)

# Called with (point, value) for AO, (point, 1.0/0.0) for BO latch on/off; returns the value in force.
CommandCallback = Callable[[Point, float], float]
# Called on SELECT with the same arguments; raises CommandRefused for a command OPERATE would refuse.
CommandCheck = Callable[[Point, float], object]

# The event class each point's `event_class` names (0: static only, never an event).
_POINT_CLASS = {n: getattr(dnp3.PointClass, f"Class{n}") for n in range(4)}
_TYPE_OF_KIND = {
    AI: "analog_input",
    BI: "binary_input",
    AO: "analog_output_status",
    BO: "binary_output_status",
}


def database(points: PointMap) -> Any:
    """The outstation database for a map: exactly its points, each in its event class, and no point
    of any other type, so an integrity poll carries what the map documents and nothing else."""
    config = dnp3.DatabaseConfig(0)
    template = opendnp3_points.defaults()
    for kind, name in _TYPE_OF_KIND.items():
        settings = {p.index: {"clazz": int(_POINT_CLASS[p.event_class])} for p in points.of_kind(kind)}
        setattr(config, name, opendnp3_points.points(template[name], settings))
    return config


class _Commands(dnp3.ICommandHandler):  # type: ignore[misc]
    def __init__(self, points: PointMap, on_command: CommandCallback, on_select: CommandCheck | None) -> None:
        super().__init__()
        self.points = points
        self.on_command = on_command
        self.on_select = on_select
        self.last_refusal = ""

    def Begin(self) -> None:
        pass

    def End(self) -> None:
        pass

    def _decode(self, command: Any, index: int) -> tuple[Point, float] | None:
        if isinstance(command, dnp3.ControlRelayOutputBlock):
            point = self.points.at(BO, index)
            on = command.opType in (dnp3.OperationType.LATCH_ON, dnp3.OperationType.PULSE_ON)
            return (point, 1.0 if on else 0.0) if point else None
        point = self.points.at(AO, index)
        return (point, float(command.value) / point.scale) if point else None

    def Select(self, command: Any, index: int) -> Any:
        decoded = self._decode(command, index)
        if decoded is None:
            return dnp3.CommandStatus.NOT_SUPPORTED
        if self.on_select is None:
            return dnp3.CommandStatus.SUCCESS
        # SELECT answers what the OPERATE would: a master must not be told SUCCESS for a value
        # the outstation will refuse a moment later.
        point, value = decoded
        try:
            self.on_select(point, value)
        except CommandRefused as exc:
            self.last_refusal = str(exc)
            return dnp3.CommandStatus.OUT_OF_RANGE
        except Exception:  # a bug in the device model must not take the stack down
            log.exception("select check failed on %s", point.name)
            return dnp3.CommandStatus.HARDWARE_ERROR
        return dnp3.CommandStatus.SUCCESS

    def Operate(self, command: Any, index: int, handler: Any, op_type: Any) -> Any:
        decoded = self._decode(command, index)
        if decoded is None:
            return dnp3.CommandStatus.NOT_SUPPORTED
        point, value = decoded
        try:
            in_force = self.on_command(point, value)
        except CommandRefused as exc:
            self.last_refusal = str(exc)
            return dnp3.CommandStatus.OUT_OF_RANGE
        except Exception:  # a bug in the device model must not take the stack down
            log.exception("command handler failed on %s", point.name)
            return dnp3.CommandStatus.HARDWARE_ERROR
        # Feedback: the output status echoes what is now in force (g40 / g10).
        if point.kind is AO:
            self._feedback(handler, point, in_force)
        else:
            handler.Update(dnp3.BinaryOutputStatus(bool(in_force)), index)
        return dnp3.CommandStatus.SUCCESS

    @staticmethod
    def _feedback(handler: Any, point: Point, in_force: float) -> None:
        """Analog output status in the point's scale, as its commands: the binding serves it as a
        32-bit integer (g40v1 / g42v1), which would drop the fraction of a value in engineering units.
        An output with scale 1 gets the value in force unchanged."""
        if point.scale == 1:
            handler.Update(dnp3.AnalogOutputStatus(in_force), point.index)
            return
        try:
            raw = encode_analog(point, in_force)
        except CommandRefused:  # accepted, but no status can show it: keep the last one
            log.warning("%s: %s in force does not fit its status point", point.name, in_force)
            return
        handler.Update(dnp3.AnalogOutputStatus(float(raw)), point.index)


class _App(dnp3.IOutstationApplication):  # type: ignore[misc]
    """Asks for time (IIN1.4 NEED_TIME) until the master has synchronised the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.clock_offset_ms = 0
        self.synced = threading.Event()

    def SupportsWriteAbsoluteTime(self) -> bool:
        return True

    def WriteAbsoluteTime(self, timestamp: Any) -> bool:
        self.clock_offset_ms = int(timestamp.msSinceEpoch) - now_ms()
        self.synced.set()
        return True

    def SupportsAssignClass(self) -> bool:
        return False

    def GetApplicationIIN(self) -> Any:
        iin = dnp3.ApplicationIIN()
        iin.needTime = not self.synced.is_set()
        return iin

    def ColdRestartSupport(self) -> Any:
        return dnp3.RestartMode.UNSUPPORTED

    def WarmRestartSupport(self) -> Any:
        return dnp3.RestartMode.UNSUPPORTED

    def ColdRestart(self) -> int:
        return 0

    def WarmRestart(self) -> int:
        return 0

    def Now(self) -> Any:
        return dnp3.DNPTime(now_ms() + self.clock_offset_ms)


class OutstationChannel:
    """A TCP (or TLS) server port; several outstations may share it at distinct link addresses."""

    def __init__(self, port: int, host: str = "127.0.0.1", tls: TlsFiles | None = None) -> None:
        self.port, self.host = port, host
        self.state = "CLOSED"
        self._listener = ChannelListener(self._on_state)
        endpoint = dnp3.IPEndpoint(host, port)
        mode = dnp3.ServerAcceptMode.CloseExisting
        mgr = manager()
        name = f"os-{host}:{port}"
        if tls is None:
            self.channel = mgr.AddTCPServer(name, dnp3.levels.NOTHING, mode, endpoint, self._listener)
        else:
            self.channel = mgr.AddTLSServer(
                name, dnp3.levels.NOTHING, mode, endpoint, tls.config(), self._listener
            )
        self.outstations: list[Outstation] = []

    def _on_state(self, state: str) -> None:
        self.state = state

    def add(
        self,
        address: int,
        points: PointMap,
        on_command: CommandCallback,
        master_address: int = 1,
        on_select: CommandCheck | None = None,
    ) -> Outstation:
        """`on_select`: the check a SELECT gets (None: any command on a known point is selected)."""
        station = Outstation(self, address, points, on_command, master_address, on_select)
        self.outstations.append(station)
        return station

    def close(self) -> None:
        self.channel.Shutdown()


class Outstation:
    def __init__(
        self,
        channel: OutstationChannel,
        address: int,
        points: PointMap,
        on_command: CommandCallback,
        master_address: int,
        on_select: CommandCheck | None = None,
    ) -> None:
        self.points = points
        self.commands = _Commands(points, on_command, on_select)
        self.app = _App()
        cfg = dnp3.OutstationStackConfig(database(points))
        cfg.outstation.eventBufferConfig = dnp3.EventBufferConfig.AllTypes(100)
        cfg.outstation.params.allowUnsolicited = False
        cfg.link.LocalAddr = address
        cfg.link.RemoteAddr = master_address
        self.stack = channel.channel.AddOutstation(f"os-{address}", self.commands, self.app, cfg)
        self.stack.Enable()

    def update(self, values: Mapping[str, float | bool]) -> None:
        """Put new input values in the database; changes become class 1 events."""
        builder = dnp3.UpdateBuilder()
        for name, value in values.items():
            for kind in (AI, BI):
                point = self.points.named(kind, name)
                if point is None:
                    continue
                if kind is AI:
                    builder.Update(dnp3.Analog(encode_analog(point, float(value))), point.index)
                else:
                    builder.Update(dnp3.Binary(bool(value)), point.index)
        self.stack.Apply(builder.Build())

    def disable(self) -> None:
        self.stack.Disable()

    def enable(self) -> None:
        self.stack.Enable()
