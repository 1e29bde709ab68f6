"""One EMS→DMS exchange per DSO interface and interval: send the request, collect the DMS's answer.

The EMS's frame (per feeder, Q injected into the transmission bus, measured from the base demand the
OPF assumed) is turned into the wire's (the interface's total Q drawn, + = import) and back with
``apps.dms.engine.dnp3.ems_dms_frame``. Requests go out one DSO after another (the 15 s stage of
DESIGN.md §2 is a budget for all of them); the answers are awaited together, since every DMS
dispatches on its own. Framework-free: no Django here."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from apps.dms.engine.dnp3.ems_dms_frame import (
    ems_q_injected_kvar,
    ems_q_range_kvar,
    interface_total,
    wire_q_drawn_kvar,
)
from apps.ems.engine.dnp3_link import DsoRequest, DsoStatus, EmsDnp3Master


@dataclass(frozen=True)
class Outgoing:
    """One DsoMessage in the EMS's frame; `name` is the DSO's link in the master."""

    name: str
    interval_id: int
    q_request_kvar: float  # per feeder, injected, from q_base_kvar
    q_base_kvar: float
    count: int
    v_pu: float
    pv_curtailment_kw: float = 0.0  # per feeder
    dr_kw: float = 0.0
    interval_s: float = 0.0  # the cycle's (0: sent outside a cycle)

    def request(self) -> DsoRequest:
        """The wire's request: totals over the interface, Q drawn from the transmission system."""
        return DsoRequest(
            interval_id=self.interval_id,
            q_request_kvar=wire_q_drawn_kvar(self.q_request_kvar, self.q_base_kvar, self.count),
            v_set_pu=self.v_pu,
            pv_curtail_kw=interface_total(self.pv_curtailment_kw, self.count),
            dr_kw=interface_total(self.dr_kw, self.count),
            interval_s=self.interval_s,
        )


@dataclass(frozen=True)
class Exchange:
    """What came of one request, in the EMS's frame (per feeder, injected, from q_base_kvar)."""

    name: str
    sent_t_s: float | None = None  # epoch seconds the DMS confirmed the whole request
    error: str = ""
    answered_t_s: float | None = None
    q_achieved_kvar: float | None = None
    q_min_next_kvar: float | None = None
    q_max_next_kvar: float | None = None
    dms_healthy: bool | None = None
    fallback_active: bool | None = None
    # The DMS's own view, in the wire's frame (totals over the interface, Q drawn, + = import).
    dms_feeder_count: int | None = None
    dms_q_received_kvar: float | None = None
    dms_q_received_per_feeder_kvar: float | None = None
    dms_q_achieved_kvar: float | None = None
    dms_q_shortfall_kvar: float | None = None
    dms_shortfall_cause: str = ""
    dms_violations_left: int | None = None


def answer_of(o: Outgoing, status: DsoStatus, sent_t_s: float) -> Exchange:
    """The DMS's wire answer → the EMS's frame."""
    assert status.q_achieved_kvar is not None
    low, high = ems_q_range_kvar(status.q_min_kvar or 0.0, status.q_max_kvar or 0.0, o.q_base_kvar, o.count)
    return Exchange(
        o.name,
        sent_t_s,
        answered_t_s=status.updated_s or time.time(),
        q_achieved_kvar=ems_q_injected_kvar(status.q_achieved_kvar, o.q_base_kvar, o.count),
        q_min_next_kvar=low,
        q_max_next_kvar=high,
        dms_healthy=status.healthy,
        fallback_active=status.fallback_active,
        dms_feeder_count=status.feeder_count,
        dms_q_received_kvar=status.q_received_kvar,
        dms_q_received_per_feeder_kvar=status.q_received_per_feeder_kvar,
        dms_q_achieved_kvar=status.q_achieved_kvar,
        dms_q_shortfall_kvar=status.q_shortfall_kvar,
        dms_shortfall_cause=status.shortfall_cause,
        dms_violations_left=status.violations_left,
    )


def _wait_links(master: EmsDnp3Master, names: Sequence[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(master.status(n).link_up for n in names):
        master.pump(0.1)


def exchange(
    master: EmsDnp3Master,
    outgoing: Sequence[Outgoing],
    *,
    connect_timeout_s: float = 10.0,
    answer_timeout_s: float = 180.0,
) -> list[Exchange]:
    """Send every request, then wait for every answer with the request's interval id."""
    _wait_links(master, [o.name for o in outgoing], connect_timeout_s)
    results: dict[str, Exchange] = {}
    waiting: dict[str, tuple[Outgoing, float]] = {}
    for o in outgoing:
        if not master.status(o.name).link_up:
            results[o.name] = Exchange(o.name, error="no connection to the DSO's DMS")
            continue
        outcome = master.send(o.name, o.request())
        if outcome.ok:
            waiting[o.name] = (o, time.time())
        elif not outcome.answered:  # connected, then silence: the link is down as far as the EMS can tell
            results[o.name] = Exchange(
                o.name, error=f"no answer from the DSO's DMS over the link ({outcome.reason})"
            )
        else:
            results[o.name] = Exchange(o.name, error=f"the DMS refused the request: {outcome.reason}")
    deadline = time.monotonic() + answer_timeout_s
    while waiting and time.monotonic() < deadline:
        master.pump(0.2)
        for name, (o, sent) in list(waiting.items()):
            status = master.status(name)
            if status.interval_id == o.interval_id and status.q_achieved_kvar is not None:
                results[name] = answer_of(o, status, sent)
                del waiting[name]
    for name, (_, sent) in waiting.items():
        results[name] = Exchange(name, sent, error=f"no answer within {answer_timeout_s:g} s")
    return [results[o.name] for o in outgoing]
