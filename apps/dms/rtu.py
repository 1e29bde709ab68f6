"""The substation RTUs the DMS reads (docs/protocols/dnp3-substation-rtu.md): one DNP3 master link
per feeder's RTU in the gateway's pool; its feeder-head P, Q and V are recorded as the feeder's head
reading (apps/dms/head.py, source "rtu") at most every `record_s`, so the cycle's collect and the
DMS's load allocation work from what the substation measured.

The RTU also carries the one control the EMS sends into the distribution substation: the voltage set
point of the tap changer's controller. The DMS writes the EMS's `v_set_pu` there when it dispatches
an EMS request on the feeder (apps/dms/dso_server.py), so the substation holds the voltage the DMS
solved its dispatch at. An RTU that does not answer raises a communication alarm on the feeder,
cleared by the next write it confirms; a refused value is logged with the RTU's reason."""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future
from dataclasses import dataclass, field

from apps.alarms.actions import do_clear_alarm, do_raise_alarm
from apps.alarms.models import Alarm
from apps.dms.engine.dnp3.master import CommandOutcome, Endpoint, LinkEvent, MasterLink, MasterPool
from apps.dms.engine.dnp3.points import SUBSTATION_RTU
from apps.dms.head import HeadError, do_record_head_measurement

log = logging.getLogger(__name__)
SOURCE = "rtu"
COMM = Alarm.Kind.COMM_FAILURE
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
    link: MasterLink | None = None
    writing: tuple[float, Future[CommandOutcome]] | None = None  # the set point on its way, its outcome

    @property
    def key(self) -> str:
        return f"rtu:{self.feeder}"

    def attach(self, pool: MasterPool, endpoint: Endpoint) -> None:
        self.link = pool.add(self.key, endpoint, SUBSTATION_RTU)

    def set_voltage(self, v_pu: float) -> None:
        """Write the tap changer controller's voltage set point; `step` looks at how it went."""
        if self.link is not None:
            self.writing = (v_pu, self.link.operate("v_set_pu", v_pu))

    def on_event(self, event: LinkEvent) -> bool:
        """Fold an event of this RTU's link; False when it is another link's."""
        if event.key != self.key:
            return False
        if event.kind == "values":
            self.values.update(event.values)
            self.fresh = True
        return True

    def step(self, now: float) -> None:
        self._written()
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

    def _written(self) -> None:
        if self.writing is None or not self.writing[1].done():
            return
        (v_pu, future), self.writing = self.writing, None
        outcome = future.result()
        label = f"{self.feeder} substation RTU"
        if outcome.ok:
            do_clear_alarm(
                None, "system", kind=COMM, source_type="rtu", source_id=self.feeder,
                note=f"{label} took the voltage set point {v_pu:.4f} pu",
            )  # fmt: skip
        elif outcome.answered:
            log.warning("%s refused the voltage set point %.4f pu: %s", label, v_pu, outcome.reason)
        else:
            do_raise_alarm(
                None, "system", kind=COMM, source_type="rtu", source_id=self.feeder, source_label=label,
                message=(
                    f"{label} did not confirm the voltage set point {v_pu:.4f} pu ({outcome.reason}): "
                    "the substation may not hold the voltage the dispatch was solved at."
                ),
            )  # fmt: skip
