"""Collect, the cycle's first stage (DESIGN §2 "collect measurements / state"): the EMS reads every
DSO's outstation — the substation meter (its operating point) — and asks the DMSs it has no recent
range from for their capability first (issue #12 item 4), so the OPF never has to solve without one
after a start-up. Values stay in the wire's frame here (totals drawn, + = import); the caller turns
them into per-feeder values. Framework-free: no Django here."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from apps.ems.engine.dnp3_link import DsoStatus, EmsDnp3Master


@dataclass(frozen=True)
class Collected:
    name: str
    error: str = ""  # why nothing (or not everything) was read
    p_kw: float | None = None  # metered, totals over the interface; None: no fresh reading
    q_kvar: float | None = None
    v_pu: float | None = None
    measured_t_s: float | None = None
    range_kvar: tuple[float, float] | None = None  # [q_min, q_max] drawn, totals, computed on our ask


def collect(
    master: EmsDnp3Master,
    names: Sequence[str],
    ask: Mapping[str, int],
    *,
    read_timeout_s: float,
    ask_timeout_s: float,
) -> dict[str, Collected]:
    """Read every DSO in `names`; ask those in `ask` (name → interval id) for their range."""
    read = _wait(master, names, read_timeout_s, lambda _, s: s.link_up and s.updated_s is not None)
    asked: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, interval_id in ask.items():
        if name not in read:
            continue
        outcome = master.ask_capability(name, interval_id)
        if outcome.ok:
            asked[name] = interval_id
        else:
            errors[name] = f"the DMS refused the capability ask: {outcome.reason}"
    ranged = _wait(master, list(asked), ask_timeout_s, lambda n, s: s.capability_interval_id == asked[n])
    out = {}
    for name in names:
        if name not in read:
            out[name] = Collected(name, error="no connection to the DSO's DMS")
            continue
        status = master.status(name)
        error = errors.get(name, "")
        if name in asked and name not in ranged:
            error = f"no capability within {ask_timeout_s:g} s"
        out[name] = _collected(name, status, name in ranged, error)
    return out


def _wait(
    master: EmsDnp3Master, names: Sequence[str], timeout_s: float, ready: Callable[[str, DsoStatus], bool]
) -> set[str]:
    """The names that became `ready` before the time ran out (pumping the link's events)."""
    deadline = time.monotonic() + timeout_s
    while True:
        master.pump(0.05)
        done = {n for n in names if ready(n, master.status(n))}
        if len(done) == len(names) or time.monotonic() >= deadline:
            return done


def _collected(name: str, s: DsoStatus, ranged: bool, error: str) -> Collected:
    low, high = s.q_min_kvar, s.q_max_kvar
    span = (low, high) if ranged and low is not None and high is not None else None
    return Collected(name, error, s.p_measured_kw, s.q_measured_kvar, s.v_measured_pu, s.measured_at_s, span)
