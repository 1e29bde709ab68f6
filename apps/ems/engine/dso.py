"""What the EMS knows of a distribution system operator (DSO): one interface at a transmission load bus.

A DSO is seen only through its interface — the bus, a count of identical feeders behind it, and per
feeder the reactive-power capability it reported for the interval (the aggregated var capability
curve of seed 004 §III at the interval's headroom), its base P/Q, and the PV curtailment and demand
response it could give as last resorts. Never DER objects. Framework-free: no Django here.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

# Seed 004 §VI-B: IEEE 37-bus feeders aggregated 22, 32 and 25 times at case9 buses 5, 7 and 9.
SEED_004_FEEDERS: tuple[tuple[int, int], ...] = ((5, 22), (7, 32), (9, 25))
SEED_004_Q_KVAR = 700.0  # per-feeder capability; 32 × 0.7 ≈ the 22 Mvar of seed 004 §VI-A at bus 7
# No transmission bus feeds more identical feeders than this; a larger count is a typo (1e30 once
# reached the database after a whole OPF and broke its integer column).
MAX_FEEDER_COUNT = 10_000
_NUMBER = r"([-+]?[\d.]+(?:[eE][-+]?\d+)?)"
# The count is taken as any word up to the colon so that feeder_count can say what is wrong with it.
_DSO = re.compile(
    rf"^\s*(\d+)\s*[x×*]\s*([^:\s]+)\s*:\s*{_NUMBER}\s*:\s*{_NUMBER}\s*((?::\s*{_NUMBER}\s*)*)$"
)
DSO_SYNTAX = "BUS×COUNT:Q_MIN_KVAR:Q_MAX_KVAR[:P_KW:Q_KVAR[:PV_KW[:DR_KW]]]"


def feeder_count(value: object, where: str) -> int:
    """A feeder count from text or a number, or ``ValueError`` naming ``where`` and the value."""
    count = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError, OverflowError):  # huge ints overflow
            count = float(value)  # text with spaces, "22", 22.0
    if not (count.is_integer() and 1 <= count <= MAX_FEEDER_COUNT):
        raise ValueError(
            f"{where}: the feeder count must be a whole number from 1 to {MAX_FEEDER_COUNT:,}, not {value!r}."
        )
    return int(count)


@dataclass(frozen=True)
class DsoInterface:
    """One interface. Per feeder: capability [q_min_kvar, q_max_kvar] of reactive power injected into
    the transmission bus; base demand p_kw/q_kvar (None: an equal share of the case's load at the bus);
    curtailable PV pv_kw and demand response dr_kw available."""

    bus: int
    count: int
    q_min_kvar: float
    q_max_kvar: float
    p_kw: float | None = None
    q_kvar: float | None = None
    pv_kw: float = 0.0
    dr_kw: float = 0.0

    def label(self) -> str:
        return f"DSO at bus {self.bus} ({self.count} feeders)"

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "bus": self.bus,
            "count": self.count,
            "q_min_kvar": self.q_min_kvar,
            "q_max_kvar": self.q_max_kvar,
            "p_kw": self.p_kw,
            "q_kvar": self.q_kvar,
            "pv_kw": self.pv_kw,
            "dr_kw": self.dr_kw,
        }


def check_dso(dso: DsoInterface) -> None:
    """``ValueError`` in an operator's words for an interface no OPF can use."""
    numbers = [dso.q_min_kvar, dso.q_max_kvar, dso.pv_kw, dso.dr_kw]
    numbers += [v for v in (dso.p_kw, dso.q_kvar) if v is not None]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{dso.label()}: every value must be a finite number.")
    feeder_count(dso.count, f"DSO at bus {dso.bus}")
    if dso.q_min_kvar > dso.q_max_kvar:
        raise ValueError(
            f"{dso.label()}: the capability's q_min ({dso.q_min_kvar:g} kvar) is above its q_max "
            f"({dso.q_max_kvar:g} kvar)."
        )
    if dso.pv_kw < 0 or dso.dr_kw < 0:
        raise ValueError(f"{dso.label()}: curtailable PV and demand response cannot be negative.")


def check_dsos(dsos: Sequence[DsoInterface], bus_numbers: set[int], case: str) -> None:
    for dso in dsos:
        check_dso(dso)
        if dso.bus not in bus_numbers:
            raise ValueError(
                f"{dso.label()}: bus {dso.bus} does not exist in {case} "
                f"(buses {min(bus_numbers)}–{max(bus_numbers)})."
            )


def parse_dso(text: str) -> DsoInterface:
    """``9x25:-700:700`` or ``9x25:-700:700:3600:1200:500:200`` → ``DsoInterface``."""
    match = _DSO.match(text)
    if match is not None:
        extra = [float(v) for v in match.group(5).split(":") if v.strip()]
        if len(extra) in (0, 2, 3, 4):
            p_kw, q_kvar = (extra[0], extra[1]) if extra else (None, None)
            bus = int(match.group(1))
            return DsoInterface(
                bus=bus,
                count=feeder_count(match.group(2), f"DSO {text.strip()!r} at bus {bus}"),
                q_min_kvar=float(match.group(3)),
                q_max_kvar=float(match.group(4)),
                p_kw=p_kw,
                q_kvar=q_kvar,
                pv_kw=extra[2] if len(extra) > 2 else 0.0,
                dr_kw=extra[3] if len(extra) > 3 else 0.0,
            )
    raise ValueError(f"Bad DSO interface {text!r}: write {DSO_SYNTAX}, e.g. 9x25:-700:700.")


def _number(value: float) -> str:
    return f"{round(value, 1) + 0.0:.1f}".removesuffix(".0")  # + 0.0: no "-0"


def format_dso(dso: DsoInterface) -> str:
    """The text form ``parse_dso`` reads (values to 0.1 kW / kvar)."""
    text = f"{dso.bus}x{dso.count}:{_number(dso.q_min_kvar)}:{_number(dso.q_max_kvar)}"
    if dso.p_kw is None or dso.q_kvar is None:
        return text
    text += f":{_number(dso.p_kw)}:{_number(dso.q_kvar)}"
    if dso.pv_kw or dso.dr_kw:
        text += f":{_number(dso.pv_kw)}:{_number(dso.dr_kw)}"
    return text


def seed_004_dsos(q_kvar: float = SEED_004_Q_KVAR) -> list[DsoInterface]:
    """The T-D system of seed 004 §VI-B with a symmetric per-feeder capability of ±q_kvar."""
    return [DsoInterface(bus, count, -q_kvar, q_kvar) for bus, count in SEED_004_FEEDERS]


# --- the registered interfaces (DsoEndpoint on the Django side) ------------------------------------


@dataclass(frozen=True)
class RegisteredInterface:
    """What a DSO registered for its interface: ``count`` identical feeders behind ``bus``, the base
    demand per feeder (None: an equal share of the case's load at the bus), and per feeder the last
    capability range it reported in its answers (Q injected, from the base; None: never reported)."""

    bus: int
    name: str
    count: int
    p_base_kw: float | None = None
    q_base_kvar: float | None = None
    q_min_kvar: float | None = None
    q_max_kvar: float | None = None

    def default(self) -> DsoInterface:
        """The OPF's DSO line for this interface. With no range reported yet, none is claimed."""
        has_range = self.q_min_kvar is not None and self.q_max_kvar is not None
        return DsoInterface(
            self.bus,
            self.count,
            self.q_min_kvar if has_range and self.q_min_kvar is not None else 0.0,
            self.q_max_kvar if has_range and self.q_max_kvar is not None else 0.0,
            p_kw=self.p_base_kw,
            q_kvar=self.q_base_kvar,
        )


def default_interfaces(registered: Iterable[RegisteredInterface]) -> list[DsoInterface]:
    return [r.default() for r in sorted(registered, key=lambda r: r.bus)]


def reconcile(
    dsos: Sequence[DsoInterface], registered: Mapping[int, RegisteredInterface]
) -> list[DsoInterface]:
    """The DSO lines checked against the registered interfaces: a registered bus must have the
    registered feeder count (else ``ValueError`` naming both), and takes the registered base demand
    when the line gives none. Lines of unregistered buses stand as written (a study, not sendable)."""
    out = []
    for dso in dsos:
        known = registered.get(dso.bus)
        if known is None:
            out.append(dso)
            continue
        if dso.count != known.count:
            feeders = "feeder" if known.count == 1 else "feeders"
            raise ValueError(
                f"DSO at bus {dso.bus}: the line says {dso.count} feeders, but its interface "
                f"{known.name!r} is registered with {known.count} {feeders}; write {dso.bus}x{known.count} "
                "or change the registration (EMS › DSO interfaces)."
            )
        if dso.p_kw is None and dso.q_kvar is None and known.q_base_kvar is not None:
            dso = replace(dso, p_kw=known.p_base_kw, q_kvar=known.q_base_kvar)
        out.append(dso)
    return out


def at_operating_point(
    dso: DsoInterface, p_kw: float, q_kvar: float, range_base_kvar: float | None
) -> DsoInterface:
    """The line at the measured base demand (per feeder, Q drawn). Its range, measured from the base
    it was reported against (`range_base_kvar`; None: this very base), moves with the base so that
    the same absolute limits of substation Q hold: injected Q is base − drawn Q."""
    shift = q_kvar - range_base_kvar if range_base_kvar is not None else 0.0
    return replace(
        dso, p_kw=p_kw, q_kvar=q_kvar, q_min_kvar=dso.q_min_kvar + shift, q_max_kvar=dso.q_max_kvar + shift
    )
