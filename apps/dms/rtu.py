"""The substation RTUs the DMS reads (docs/protocols/dnp3-substation-rtu.md): one DNP3 master link
per feeder's RTU in the gateway's pool; its feeder-head P, Q and V are recorded as the feeder's head
reading (apps/dms/head.py, source "rtu") at most every `record_s`, so the cycle's collect and the
DMS's load allocation work from what the substation measured."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from apps.dms.engine.dnp3.master import Endpoint, LinkEvent, MasterPool
from apps.dms.engine.dnp3.points import SUBSTATION_RTU
from apps.dms.head import HeadError, do_record_head_measurement

log = logging.getLogger(__name__)
SOURCE = "rtu"
NEEDED = ("p_kw", "q_kvar", "v_pu")
_SPEC = re.compile(r"^(?P<feeder>[^=\s]+)=(?P<host>[^:\s]+):(?P<port>\d+)(?::(?P<address>\d+))?$")


def parse_rtu(text: str) -> tuple[str, Endpoint]:
    """FEEDER=HOST:PORT[:ADDRESS] (address 10 when not given); ValueError in words."""
    match = _SPEC.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r}: write FEEDER=HOST:PORT[:ADDRESS], e.g. ieee123=127.0.0.1:20700:10")
    port, address = int(match["port"]), int(match["address"] or 10)
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: {port} is not a TCP port (1–65535)")
    if not 0 <= address <= 65519:
        raise ValueError(f"{text!r}: DNP3 address {address} is outside 0…65519")
    return match["feeder"], Endpoint(match["host"], port, address)


@dataclass
class RtuReader:
    feeder: str
    record_s: float
    values: dict[str, float] = field(default_factory=dict)
    recorded_at: float = 0.0
    fresh: bool = False

    @property
    def key(self) -> str:
        return f"rtu:{self.feeder}"

    def attach(self, pool: MasterPool, endpoint: Endpoint) -> None:
        pool.add(self.key, endpoint, SUBSTATION_RTU)

    def on_event(self, event: LinkEvent) -> bool:
        """Fold an event of this RTU's link; False when it is another link's."""
        if event.key != self.key:
            return False
        if event.kind == "values":
            self.values.update(event.values)
            self.fresh = True
        return True

    def step(self, now: float) -> None:
        if (
            not self.fresh
            or now - self.recorded_at < self.record_s
            or not all(k in self.values for k in NEEDED)
        ):
            return
        self.fresh, self.recorded_at = False, now
        reading = {k: self.values[k] for k in NEEDED}
        try:
            do_record_head_measurement(None, SOURCE, self.feeder, reading)
        except HeadError as exc:  # an RTU reporting nonsense: store nothing, say so
            log.warning("RTU reading of %s refused: %s", self.feeder, exc)
